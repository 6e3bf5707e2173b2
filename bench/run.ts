/**
 * faultline's benchmark: every path (direct, the sidecar in several set-ups, a minimal Node pipe
 * proxy, HAProxy) through every workload, interleaved path by path within each round, medians
 * of the rounds, ratios to direct from the same round; then fault accuracy. Writes
 * bench/results/<timestamp>.{json,md,svg}.
 *
 *   npm run bench [-- --quick | --smoke] [--check] [--spread] [--out DIR]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureAccuracy } from './accuracy.js';
import { measureTransparent } from './transparent.js';
import { PATHS, type Ports, type RunningPath } from './paths.js';
import { markdown, resultsSchema, svg, type Results, type Workload } from './report.js';
import { check } from './targets.js';
import { bulk, echo, grpcUnary, httpKeepAlive, idleMemory, newConnections, wsMessages } from './workloads.js';

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean' }, smoke: { type: 'boolean' }, check: { type: 'boolean' }, spread: { type: 'boolean' }, out: { type: 'string' } },
});
const mode: Results['mode'] = flags.smoke ? 'smoke' : flags.quick ? 'quick' : 'full';
const SIZES = {
  smoke: { rounds: 1, bulk: 32 * 1024 ** 2, echo: 300, http: 0.4, conn: 0.3, grpc: 0.4, ws: 0.3, idle: [200], accuracy: 0 },
  quick: { rounds: 3, bulk: 256 * 1024 ** 2, echo: 3000, http: 1, conn: 0.5, grpc: 0.7, ws: 0.5, idle: [1000], accuracy: 0.2 },
  full: { rounds: 3, bulk: 1024 ** 3, echo: 20_000, http: 5, conn: 3, grpc: 3, ws: 3, idle: [1000, 10_000], accuracy: 1 },
}[mode];
// On this VM an idle second vCPU takes ~80 us to wake, which swamps a proxy's own latency, so
// by default everything shares CPU 0; --spread gives the proxies CPU 1.
const PROXY_CPU = flags.spread ? 1 : 0;
const placement = `client cpu 0, origins cpu 0, proxies cpu ${PROXY_CPU} (taskset)`;
execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

const progress = (text: string) => process.stderr.write(`\r\x1b[K${text}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const origins = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(new URL('upstreams.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
const upstream = await new Promise<Ports>((resolve, reject) => {
  let text = '';
  origins.stdout.on('data', (d: Buffer) => {
    text += d;
    if (text.includes('\n')) resolve(JSON.parse(text.split('\n')[0] as string) as Ports);
  });
  origins.once('exit', () => reject(new Error('the origins process died')));
});
const running: RunningPath[] = [];
process.on('exit', () => {
  origins.kill('SIGKILL');
  for (const p of running) p.stop();
});

const results: Results = {
  version: 1,
  startedAt: new Date().toISOString(),
  mode,
  placement,
  rounds: SIZES.rounds,
  node: process.version,
  paths: {},
  missed: [],
};
for (const spec of PATHS) {
  progress(`starting ${spec.name}`);
  const started = await spec.start(upstream, PROXY_CPU);
  results.paths[spec.name] = { describe: spec.describe };
  if ('unsupported' in started) (results.paths[spec.name] as { unsupported?: string }).unsupported = started.unsupported;
  else running.push(started);
}

const samples = new Map<string, number[]>();
const record = (path: string, w: Workload, v: number) => {
  const key = `${path}:${w}`;
  samples.set(key, [...(samples.get(key) ?? []), v]);
};
const workloads: [string, (p: RunningPath) => Promise<void>][] = [
  ['bulk', async (p) => record(p.name, 'bulkMiBs', await bulk(p.ports.sink, SIZES.bulk))],
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
  ['new connections', async (p) => record(p.name, 'connPerSec', await newConnections(p.ports.http, SIZES.conn))],
  ['gRPC', async (p) => record(p.name, 'grpcRps', await grpcUnary(p.ports.grpc, SIZES.grpc))],
  ['WebSocket', async (p) => record(p.name, 'wsMsgs', await wsMessages(p.ports.ws, SIZES.ws))],
];
// Warm-up: JIT and connection pools on every path before anything is recorded.
for (const path of running) {
  progress(`warm-up ${path.name}`);
  await httpKeepAlive(path.ports.http, 64, 0.2);
  await grpcUnary(path.ports.grpc, 0.2);
  await echo(path.ports.echo, 200);
}
for (let round = 1; round <= SIZES.rounds; round++) {
  for (const [label, run] of workloads) {
    for (const path of running) {
      progress(`round ${round}/${SIZES.rounds}  ${label.padEnd(16)} ${path.name}`);
      await run(path);
    }
  }
}
for (const path of running) {
  if (path.pid === undefined) continue;
  const perConn: number[] = [];
  for (const count of SIZES.idle) {
    progress(`idle memory ${count} connections  ${path.name}`);
    perConn.push(await idleMemory(path.pid, path.ports.echo, count));
  }
  record(path.name, 'idleKiBPerConn', perConn.at(-1) as number);
}
for (const [key, values] of samples) {
  const [path, w] = key.split(':') as [string, Workload];
  (results.paths[path] as Record<string, unknown>)[w] = median(values);
}
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
    process.stderr.write(`\ntransparent interception not measured: ${(err as Error).message.split('\n')[0]}\n`);
  }
}
progress('');
results.missed = mode === 'smoke' ? [] : check(results);
resultsSchema.parse(results);

const dir = flags.out ?? fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const stamp = results.startedAt.replace(/[:.]/g, '-');
writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, `${stamp}.md`), markdown(results));
writeFileSync(join(dir, `${stamp}.svg`), svg(results));
process.stdout.write(markdown(results));
process.stdout.write(`\nwritten: ${join(dir, stamp)}.{json,md,svg}\n`);
if (flags.check && results.missed.length > 0) {
  process.stderr.write(`bench --check: ${results.missed.length} target(s) missed:\n${results.missed.map((m) => `  ${m}`).join('\n')}\n`);
  process.exit(1);
}
process.exit(0);
