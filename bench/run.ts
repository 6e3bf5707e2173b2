/**
 * faultline's benchmark: every path (direct, the sidecar in several set-ups, a minimal Node pipe
 * proxy, HAProxy, Toxiproxy when given) through every workload, path by path within each round,
 * every other round in reverse order; each figure's median and spread over the rounds, and each
 * path's ratio to the pipe paired round by round. Then bulk through fresh processes, fault
 * accuracy and (as root) transparent interception. Writes bench/results/<timestamp>.{json,md,svg}.
 *
 *   npm run bench [-- --quick | --smoke] [--check] [--spread] [--out DIR] [--toxiproxy PATH] [--paths a,b]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureAccuracy } from './accuracy.js';
import { measureFresh } from './fresh.js';
import { executable, paths, type PathSpec, type Ports, type RunningPath } from './paths.js';
import { processes } from './processes.js';
import { markdown, resultsSchema, stats, svg, type Results, type Stats, type Workload } from './report.js';
import { buildCompiledCli } from './runtime.js';
import { check } from './targets.js';
import { measureTransparent } from './transparent.js';
import { bulk, cpuSeconds, echo, grpcUnary, httpKeepAlive, idleMemory, newConnections, wsMessages } from './workloads.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    smoke: { type: 'boolean' },
    check: { type: 'boolean' },
    spread: { type: 'boolean' },
    out: { type: 'string' },
    toxiproxy: { type: 'string' },
    paths: { type: 'string' },
  },
});
const fail = (message: string): never => {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
};
// Arguments are checked before anything starts.
if (flags.toxiproxy !== undefined && !executable(flags.toxiproxy)) fail(`--toxiproxy ${flags.toxiproxy}: not an executable file (give the path of a toxiproxy-server binary)`);
const all = paths(flags.toxiproxy);
const wanted = flags.paths?.split(',').map((p) => p.trim());
for (const name of wanted ?? []) if (!all.some((p) => p.name === name)) fail(`--paths: no path named "${name}" (paths: ${all.map((p) => p.name).join(', ')})`);
// direct and node-pipe are the references every ratio needs.
const chosen: PathSpec[] = all.filter((p) => !wanted || ['direct', 'node-pipe'].includes(p.name) || wanted.includes(p.name));

const mode: Results['mode'] = flags.smoke ? 'smoke' : flags.quick ? 'quick' : 'full';
const SIZES = {
  smoke: { rounds: 1, bulk: 16 * 1024 ** 2, echo: 200, http: 0.3, conn: 0.2, grpc: 0.3, ws: 0.2, idle: 200, idleReps: 1, fresh: { processes: 1, bytes: 16 * 1024 ** 2, defaults: false }, accuracy: 0 },
  quick: { rounds: 3, bulk: 256 * 1024 ** 2, echo: 3000, http: 1, conn: 0.7, grpc: 0.7, ws: 0.5, idle: 2000, idleReps: 2, fresh: { processes: 3, bytes: 256 * 1024 ** 2, defaults: true }, accuracy: 0.2 },
  full: { rounds: 5, bulk: 1024 ** 3, echo: 20_000, http: 4, conn: 3, grpc: 2, ws: 2, idle: 9000, idleReps: 3, fresh: { processes: 10, bytes: 1024 ** 3, defaults: true }, accuracy: 1 },
}[mode];
// On this VM an idle second vCPU takes ~80 us to wake, which swamps a proxy's own latency, so
// by default everything shares CPU 0; --spread gives the proxies CPU 1.
const PROXY_CPU = flags.spread ? 1 : 0;
const placement = `client cpu 0, origins cpu 0, proxies cpu ${PROXY_CPU} (taskset)`;
execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

// On a terminal one progress line rewritten in place; elsewhere (CI logs, files) plain lines, no escape codes.
const progress = (text: string) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${text}` : `${text}\n`);
// The sidecar compiled, as the image runs it (see bench/runtime.ts); a smoke run, which measures
// nothing, keeps the source entry.
if (mode !== 'smoke') {
  progress('building dist/ (the sidecar is measured compiled, as the image runs it)');
  buildCompiledCli();
}
const notes: string[] = [];
if (mode === 'smoke') notes.push('the sidecar ran from source (through tsx), not compiled: a smoke run measures nothing');
if (!flags.toxiproxy) {
  notes.push('toxiproxy: not measured (no --toxiproxy PATH given)');
  process.stderr.write('toxiproxy: skipped (no --toxiproxy PATH given)\n');
}

const origins = processes.spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(new URL('upstreams.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
const upstream = await new Promise<Ports>((resolve, reject) => {
  let text = '';
  origins.stdout?.on('data', (d: Buffer) => {
    text += d;
    if (text.includes('\n')) resolve(JSON.parse(text.split('\n')[0] as string) as Ports);
  });
  origins.once('exit', () => reject(new Error('the origins process died')));
});

const results: Results = {
  version: 2,
  startedAt: new Date().toISOString(),
  mode,
  placement,
  rounds: SIZES.rounds,
  node: process.version,
  paths: {},
  spread: {},
  ratios: {},
  notes,
  checked: mode !== 'smoke',
  missed: [],
};
const running: RunningPath[] = [];
for (const spec of chosen) {
  progress(`starting ${spec.name}`);
  const started = await spec.start(upstream, PROXY_CPU);
  results.paths[spec.name] = { describe: spec.describe };
  if ('unsupported' in started) {
    (results.paths[spec.name] as { unsupported?: string }).unsupported = started.unsupported;
    notes.push(`${spec.name}: ${started.unsupported}`);
  } else running.push(started);
}

/** Per path and workload, one sample per round (or repetition). */
const samples = new Map<string, Map<Workload, number[]>>();
const record = (path: string, w: Workload, v: number) => {
  const byWorkload = samples.get(path) ?? samples.set(path, new Map()).get(path) as Map<Workload, number[]>;
  byWorkload.set(w, [...(byWorkload.get(w) ?? []), v]);
};
/** Runs `work` and returns the CPU seconds the proxy used meanwhile (undefined for direct). */
async function withCpu<T>(p: RunningPath, work: () => Promise<T>): Promise<[T, number | undefined]> {
  const before = p.pid === undefined ? undefined : cpuSeconds(p.pid);
  const value = await work();
  return [value, before === undefined || p.pid === undefined ? undefined : cpuSeconds(p.pid) - before];
}
const workloads: [string, (p: RunningPath) => Promise<void>][] = [
  ['bulk', async (p) => {
    const [mibs, cpu] = await withCpu(p, () => bulk(p.ports.sink, SIZES.bulk));
    record(p.name, 'bulkMiBs', mibs);
    if (cpu !== undefined) record(p.name, 'bulkCpuSPerGiB', cpu / (SIZES.bulk / 1024 ** 3));
  }],
  ['echo', async (p) => {
    const r = await echo(p.ports.echo, SIZES.echo);
    record(p.name, 'echoP50us', r.p50);
    record(p.name, 'echoP99us', r.p99);
  }],
  ['http', async (p) => {
    const r = await httpKeepAlive(p.ports.http, 64, SIZES.http);
    record(p.name, 'httpRps', r.rps);
    record(p.name, 'httpP50us', r.p50);
    record(p.name, 'httpP99us', r.p99);
  }],
  ['HTTP, fast origin', async (p) => {
    if (p.ports.fastHttp !== 0) record(p.name, 'fastHttpRps', (await httpKeepAlive(p.ports.fastHttp, 64, SIZES.http)).rps);
  }],
  ['new connections', async (p) => {
    const [r, cpu] = await withCpu(p, () => newConnections(p.ports.http, SIZES.conn));
    record(p.name, 'connPerSec', r.rate);
    if (cpu !== undefined && r.count > 0) record(p.name, 'connCpuUs', (cpu * 1e6) / r.count);
  }],
  ['gRPC', async (p) => record(p.name, 'grpcRps', await grpcUnary(p.ports.grpc, SIZES.grpc))],
  ['WebSocket', async (p) => record(p.name, 'wsMsgs', await wsMessages(p.ports.ws, SIZES.ws))],
];
// Warm-up: JIT and connection pools on every path before anything is recorded.
const WARM = mode === 'smoke' ? 0.05 : 0.3;
for (const path of running) {
  progress(`warm-up ${path.name}`);
  await httpKeepAlive(path.ports.http, 64, WARM);
  await grpcUnary(path.ports.grpc, WARM);
  await echo(path.ports.echo, 200);
  await newConnections(path.ports.http, WARM);
}
/** Each round's ratio of every path to node-pipe, per workload (paired: same round). */
const ratioSamples = new Map<string, Map<Workload, number[]>>();
for (let round = 1; round <= SIZES.rounds; round++) {
  // Every other round in reverse: no path gains from its place in the order.
  const order = round % 2 === 1 ? running : [...running].reverse();
  const before = new Map([...samples].map(([p, m]) => [p, new Map([...m].map(([w, xs]) => [w, xs.length]))]));
  for (const [label, run] of workloads) {
    for (const path of order) {
      progress(`round ${round}/${SIZES.rounds}  ${label.padEnd(16)} ${path.name}`);
      await run(path);
    }
  }
  const roundValue = (p: string, w: Workload) => {
    const xs = samples.get(p)?.get(w);
    return xs && xs.length > (before.get(p)?.get(w) ?? 0) ? xs.at(-1) : undefined;
  };
  for (const path of running) {
    for (const w of samples.get(path.name)?.keys() ?? []) {
      const v = roundValue(path.name, w);
      const pipe = roundValue('node-pipe', w);
      if (v === undefined || pipe === undefined || pipe === 0 || path.name === 'node-pipe' || path.name === 'direct') continue;
      const m = ratioSamples.get(path.name) ?? ratioSamples.set(path.name, new Map()).get(path.name) as Map<Workload, number[]>;
      m.set(w, [...(m.get(w) ?? []), v / pipe]);
    }
  }
}
const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 1024;
// A proxy holds two sockets per connection: stay under the open-file limit.
const idleCount = Math.min(SIZES.idle, Math.floor((fdLimit - 500) / 2));
if (idleCount < SIZES.idle) notes.push(`idle memory over ${idleCount} connections, not ${SIZES.idle}: the open-file limit is ${fdLimit}`);
for (let rep = 0; rep < SIZES.idleReps; rep++) {
  for (const path of rep % 2 === 0 ? running : [...running].reverse()) {
    if (path.pid === undefined) continue;
    progress(`idle memory ${idleCount} connections  ${path.name}`);
    record(path.name, 'idleKiBPerConn', await idleMemory(path.pid, path.ports.echo, idleCount));
  }
}
for (const [path, byWorkload] of samples) {
  const spread: Record<string, Stats> = {};
  for (const [w, xs] of byWorkload) {
    spread[w] = stats(xs);
    (results.paths[path] as Record<string, unknown>)[w] = spread[w].median;
  }
  results.spread[path] = spread;
}
for (const [path, byWorkload] of ratioSamples) results.ratios[path] = Object.fromEntries([...byWorkload].map(([w, xs]) => [w, stats(xs)]));
for (const p of running) p.stop();

progress('bulk in fresh processes');
results.fresh = await measureFresh(upstream, PROXY_CPU, SIZES.fresh, progress);
if (SIZES.accuracy > 0) {
  progress('accuracy');
  results.accuracy = await measureAccuracy(upstream.echo, PROXY_CPU, SIZES.accuracy);
}
// Transparent interception needs root and network namespaces ("when the machine allows it").
if (mode !== 'smoke' && process.getuid?.() === 0 && spawnSync('iptables', ['-V']).status === 0) {
  progress('transparent interception (network namespaces)');
  try {
    results.transparent = await measureTransparent(mode === 'quick');
  } catch (err) {
    notes.push(`transparent interception not measured: ${(err as Error).message.split('\n')[0]}`);
  }
} else if (mode !== 'smoke') notes.push('transparent interception: not measured (needs root and iptables)');
progress('');
results.missed = results.checked ? check(results) : [];
resultsSchema.parse(results);

const dir = flags.out ?? fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const stamp = results.startedAt.replace(/[:.]/g, '-');
writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, `${stamp}.md`), markdown(results));
writeFileSync(join(dir, `${stamp}.svg`), svg(results));
process.stdout.write(markdown(results));
process.stdout.write(`\nwritten: ${join(dir, stamp)}.{json,md,svg}\n`);
if (flags.check && !results.checked) process.stderr.write('bench --check: a smoke run checks no target\n');
if (flags.check && results.missed.length > 0) {
  process.stderr.write(`bench --check: ${results.missed.length} target(s) missed:\n${results.missed.map((m) => `  ${m}`).join('\n')}\n`);
  process.exit(1);
}
process.exit(0);
