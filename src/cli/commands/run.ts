import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { ExperimentFileError, UsageError } from '../../errors.js';
import { loadExperiment, validateExperiment } from '../../experiments/load.js';
import { Progress } from '../../experiments/progress.js';
import { renderHtml } from '../../experiments/report-html.js';
import type { Report } from '../../experiments/report.js';
import { ExperimentRunner } from '../../experiments/runner.js';
import type { ExperimentDocument } from '../../experiments/schema.js';
import { output, printData } from '../output.js';
import { durationFlag, integerFlag, probabilityFlag } from '../flags.js';

interface RunFlags {
  output?: string;
  html?: string;
  seed?: number;
  quiet?: boolean;
  random?: boolean;
  probability?: number;
  types?: string;
  interval?: number;
  duration?: number;
  faultDuration?: number;
  target?: string[];
  tokenFile?: string;
  listener?: string;
  probeUrl?: string;
  probeTcp?: string;
  probeInterval?: number;
  maxLatency?: number;
  before?: number;
  after?: number;
  name: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** spec.random from the flags (over the file's, when there is one). */
function randomFrom(flags: RunFlags, base: Record<string, unknown> = {}): Record<string, unknown> {
  const random: Record<string, unknown> = { ...base };
  if (flags.probability !== undefined) random.probability = flags.probability;
  if (flags.types !== undefined) random.types = flags.types.split(',').map((s) => s.trim()).filter(Boolean);
  if (flags.interval !== undefined) random.interval = flags.interval;
  if (flags.duration !== undefined) random.duration = flags.duration;
  if (flags.faultDuration !== undefined) random.faultDuration = flags.faultDuration;
  if (flags.listener !== undefined) random.match = { listener: flags.listener };
  return random;
}

/** An experiment from the flags alone: random mode against admin targets, one probe. */
function experimentFromFlags(flags: RunFlags): Record<string, unknown> {
  if (!flags.target?.length) throw new UsageError('--random without a file needs --target URL (a sidecar admin API; repeat for more)');
  if (!flags.probeUrl === !flags.probeTcp) throw new UsageError('--random without a file needs one probe: --probe-url URL or --probe-tcp HOST:PORT');
  const probe = {
    name: 'probe',
    ...(flags.probeUrl ? { http: { url: flags.probeUrl } } : { tcp: { address: flags.probeTcp } }),
    ...(flags.probeInterval !== undefined ? { interval: flags.probeInterval } : {}),
    ...(flags.maxLatency !== undefined ? { maxLatency: flags.maxLatency } : {}),
  };
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: flags.name },
    spec: {
      targets: flags.target.map((url, i) => ({ name: `sidecar-${i + 1}`, admin: { url, ...(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}) } })),
      steadyState: { probes: [probe], ...(flags.before !== undefined ? { before: flags.before } : {}), ...(flags.after !== undefined ? { after: flags.after } : {}) },
      random: randomFrom(flags),
    },
  };
}

async function experimentOf(file: string | undefined, flags: RunFlags): Promise<ExperimentDocument> {
  if (file === undefined && !flags.random) throw new UsageError('give an experiment file, or --random with its flags (see faultline run --help)');
  let raw: Record<string, unknown>;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
    }
    const doc = loadExperiment(text, file);
    if (!flags.random) return doc;
    raw = { ...doc, spec: { ...doc.spec, random: randomFrom(flags, doc.spec.random as Record<string, unknown> | undefined) } };
  } else {
    raw = experimentFromFlags(flags);
  }
  const checked = validateExperiment(raw);
  if ('problems' in checked) throw new UsageError(`the random experiment is not valid:\n  ${checked.problems.join('\n  ')}`);
  return checked.doc;
}

function summary(report: Report, written: string[]): string {
  const lines = [`verdict: ${report.verdict.result.toUpperCase()}: ${report.verdict.reason}`];
  for (const p of report.probes) {
    const f = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
    lines.push(`probe ${p.name}: availability before ${f(p.before.availability)}, during ${f(p.during.availability)}, after ${f(p.after.availability)}; p99 during ${p.during.p99 ?? '-'} ms`);
  }
  lines.push(`rollback: ${report.rollback.completed ? 'complete' : 'INCOMPLETE'}; seed ${report.seed}`);
  for (const file of written) lines.push(`report: ${file}`);
  return `${lines.join('\n')}\n`;
}

/** Runs the experiment; resolves with the exit code: 0 passed, 1 failed or aborted. */
export async function runExperiment(file: string | undefined, flags: RunFlags): Promise<number> {
  const doc = await experimentOf(file, flags);
  const seed = flags.seed ?? doc.spec.random?.seed ?? randomInt(2 ** 31);
  // -o json|yaml: the report on stdout, so progress and the summary go to stderr.
  const format = flags.output === 'json' || flags.output === 'yaml' ? flags.output : undefined;
  const progress = new Progress(format ? process.stderr : process.stdout, flags.quiet === true);
  const runner = new ExperimentRunner({ doc, file: file ?? '(flags)', seed, onEvent: (e) => progress.event(e), onSample: (s) => progress.sample(s) });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) return runner.interrupt(`interrupted by ${signal}`);
    if (signals >= 3) process.exit(130);
    output.stderr('faultline: rolling back the faults; once more to quit at once (the rules expire by themselves)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runner.run();
    progress.end();
    const written: string[] = [];
    const file = format ? undefined : flags.output;
    if (file) {
      await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
      written.push(file);
    }
    const html = flags.html ?? (file ? file.replace(/\.json$/i, '') + '.html' : undefined);
    if (html) {
      await writeFile(html, renderHtml(report));
      written.push(html);
    }
    if (format) {
      printData(format, report, () => '');
      output.stderr(summary(report, written));
    } else output.stdout(summary(report, written));
    return report.verdict.result === 'passed' && report.rollback.completed ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `faultline run [FILE]`: a chaos experiment, with a report. Exit 0 passed, 1 failed or aborted, 2 usage error. */
export function register(program: Command): void {
  program
    .command('run')
    .description('run a chaos experiment (steady-state probes, a method of fault steps, abort conditions, rollback) and report')
    .argument('[file]', 'experiment file (kind: Experiment)')
    .option('-o, --output <file|json|yaml>', 'write the JSON report to this file (and the HTML page beside it, .html); json or yaml: print the report on stdout instead')
    .option('--html <file>', 'write the HTML report here')
    .option('--seed <n>', 'seed of random mode (a run is reproduced by its seed)', integerFlag(0, 2 ** 31 - 1))
    .option('--quiet', 'print only the verdict and the summary')
    .option('--random', 'random mode (game day): faults drawn at each interval; flags below, or spec.random in the file')
    .option('--probability <p>', 'random: chance of a fault at each interval (0-1)', probabilityFlag)
    .option('--types <list>', 'random: fault types or scenario names to draw from, comma-separated')
    .option('--interval <duration>', 'random: how often to draw, e.g. 10s', durationFlag)
    .option('--duration <duration>', 'random: how long to go on, e.g. 5m', durationFlag)
    .option('--fault-duration <duration>', 'random: how long a drawn fault stays (default half the interval)', durationFlag)
    .option('--target <url>', 'random: a sidecar admin API (repeatable)', collect)
    .option('--token-file <file>', 'random: the admin token file of the targets')
    .option('--listener <name>', 'random: only this listener\'s traffic')
    .option('--probe-url <url>', 'random: the steady-state probe, an HTTP GET')
    .option('--probe-tcp <host:port>', 'random: the steady-state probe, a TCP connect')
    .option('--probe-interval <duration>', 'random: how often to probe (default 1s)', durationFlag)
    .option('--max-latency <duration>', 'random: a probe slower than this fails', durationFlag)
    .option('--before <duration>', 'random: steady state watched before (default 5s)', durationFlag)
    .option('--after <duration>', 'random: recovery watched after (default 5s)', durationFlag)
    .addOption(new Option('--name <name>', 'random: the experiment name (rule prefix exp.NAME.)').default('random'))
    .exitOverride((err) => {
      throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
    })
    .action(async (file: string | undefined, flags: RunFlags) => {
      try {
        process.exitCode = await runExperiment(file, flags);
      } catch (err) {
        if (err instanceof ExperimentFileError) output.stderr(`${err.lines().join('\n')}\n`);
        else if (err instanceof UsageError) output.stderr(`faultline: ${err.message}\n`);
        else throw err;
        process.exitCode = 2;
      }
    });
}
