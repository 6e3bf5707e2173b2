/**
 * faultline's reliability suite: the probes a proxy's maintainers would run, against a sidecar
 * in its own process, each bounded in count and time. Prints its figures (and JSON with --json).
 *
 *   npm run soak [-- --seconds 180] [--held 9000] [--mib 200] [--fuzz 10000] [--transfers 200] [--json]
 *
 * test/bench/soak.test.ts runs a 30-second version in CI and checks the figures.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { seededRandom } from '../src/experiments/random.js';
import { answered, download, fuzzInput, integrity, maxRoundTrip, openMany, server, shortExchange, sleep, startSidecar, type Sidecar } from './soak-probes.js';

export interface SoakOptions {
  /** How long the short-connection soak runs. */
  seconds: number;
  /** Connections held open at once (the reload must reach them all). */
  held: number;
  /** MiB sent each way through an echo while faults are toggled. */
  mib: number;
  /** Fuzzed HTTP/1.1 inputs. */
  fuzz: number;
  /** Downloads in flight at SIGTERM. */
  transfers: number;
}

export interface SoakFigures {
  /**
   * The ping's worst round trip during each reload (what a live connection saw, the client's own
   * pauses included) and the sidecar's own worst event-loop delay meanwhile
   * (`nodejs_eventloop_lag_max_seconds`, reset at each scrape).
   */
  held: { open: number; reachedByReload: number; reloadStallMs: number; faultReloadStallMs: number; reloadLoopMs: number; faultReloadLoopMs: number };
  soak: { seconds: number; connections: number; failed: number; rewrites: number; rssMiB: [number, number]; fds: [number, number]; activeAfter: number };
  integrity: { mib: number; toggles: number; identical: boolean };
  /** `hung`: the first hanging inputs (up to 5), as JSON strings, to reproduce them. */
  fuzz: { inputs: number; hangs: number; crashed: boolean; hung: string[] };
  drain: { transfers: number; complete: number; reset: number; truncated: number; exitCode: number | null; cutTransfers: number; cutReset: number; cutTruncated: number };
}

const LATENCY_ALL = '    - {name: slow, match: {listener: echo}, faults: [{type: latency, latency: 1ms}]}';
const OTHER = (n: number) => `    - {name: other-${n}, match: {ports: [9]}, faults: [{type: latency, latency: ${n + 1}ms}]}`;

/** Resolves once the sidecar logged its `count`-th "policy applied" line. */
async function applied(sidecar: Sidecar, count: number): Promise<void> {
  for (const until = Date.now() + 30_000; Date.now() < until; await sleep(5)) {
    if (sidecar.applied >= count) return;
  }
  throw new Error('the policy was not applied in 30 s');
}
const appliedCount = (sidecar: Sidecar) => sidecar.applied;

async function connectionsWith(sidecar: Sidecar, rule: string): Promise<number> {
  const view = (await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/connections?rule=${rule}&limit=1`)).json()) as { total: number };
  return view.total;
}

/** Resolves once `rule` applies to `count` live connections (the re-plan runs in slices, after the "policy applied" line). */
async function reached(sidecar: Sidecar, rule: string, count: number): Promise<number> {
  let seen = 0;
  for (const until = Date.now() + 60_000; Date.now() < until; await sleep(100)) {
    seen = await connectionsWith(sidecar, rule);
    if (seen >= count) break;
  }
  return seen;
}

/**
 * Held connections, and what a reload costs them: the largest ping round trip on a live one
 * while the reload is applied and every connection re-planned (a rule for other traffic: 1 s
 * after it applied; a fault on all: until all have it).
 */
async function heldProbe(sidecar: Sidecar, count: number): Promise<SoakFigures['held']> {
  const sockets = await openMany(sidecar.ports.echo as number, count);
  const ping = (await openMany(sidecar.ports.echo as number, 1))[0]!;
  const open = sockets.filter((s) => s.readyState === 'open').length;
  await sleep(500);
  const before = appliedCount(sidecar);
  const loopMs = async () => (await sidecar.metric('nodejs_eventloop_lag_max_seconds')) * 1000;
  await loopMs();
  sidecar.writePolicy(OTHER(0));
  const reloadStallMs = await maxRoundTrip(ping, applied(sidecar, before + 1).then(() => sleep(1000)));
  const reloadLoopMs = await loopMs();
  sidecar.writePolicy(LATENCY_ALL);
  let reachedByReload = 0;
  const faultReloadStallMs = await maxRoundTrip(ping, applied(sidecar, before + 2).then(async () => (reachedByReload = await reached(sidecar, 'slow', open + 1))));
  const faultReloadLoopMs = await loopMs();
  for (const s of [...sockets, ping]) s.destroy();
  sidecar.writePolicy('');
  await applied(sidecar, before + 3);
  for (const until = Date.now() + 30_000; Date.now() < until && (await sidecar.metric('faultline_connections_active')) > 0; ) await sleep(200);
  return { open, reachedByReload, reloadStallMs, faultReloadStallMs, reloadLoopMs, faultReloadLoopMs };
}

/** Short connections for `seconds`, 50 at a time, with the policy rewritten every 2 s. */
async function soakProbe(sidecar: Sidecar, seconds: number): Promise<SoakFigures['soak']> {
  for (let i = 0; i < 200; i++) await shortExchange(sidecar.ports.echo as number);
  await sleep(1000);
  const rss0 = sidecar.rssMiB();
  const fds0 = sidecar.fds();
  let connections = 0;
  let failed = 0;
  let rewrites = 0;
  const until = Date.now() + seconds * 1000;
  const rewriter = setInterval(() => sidecar.writePolicy(rewrites++ % 2 === 0 ? LATENCY_ALL : OTHER(rewrites)), 2000);
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (Date.now() < until) {
        if (await shortExchange(sidecar.ports.echo as number)) connections++;
        else failed++;
      }
    }),
  );
  clearInterval(rewriter);
  sidecar.writePolicy('');
  await sleep(2000);
  return { seconds, connections, failed, rewrites, rssMiB: [rss0, sidecar.rssMiB()], fds: [fds0, sidecar.fds()], activeAfter: await sidecar.metric('faultline_connections_active') };
}

/** `mib` through an echo while a latency and a slicer fault come and go (the file rewritten every 50 ms). */
async function integrityProbe(sidecar: Sidecar, mib: number): Promise<SoakFigures['integrity']> {
  let toggles = 0;
  const slicer = '    - {name: slices, match: {listener: echo}, faults: [{type: slicer, averageSize: 1024, sizeVariation: 512}]}';
  const timer = setInterval(() => sidecar.writePolicy([LATENCY_ALL, slicer, ''][toggles++ % 3] as string), 50);
  const identical = await integrity(sidecar.ports.echo as number, mib * 1024 * 1024);
  clearInterval(timer);
  sidecar.writePolicy('');
  return { mib, toggles, identical };
}

/**
 * Fuzzed HTTP/1.1 through an L7 rule, each also sent to the origin directly: a hang is an input
 * the origin answers (or closes on) within 3 s and the sidecar does not. A body shorter than its
 * Content-Length waits at the origin too: that is not a hang.
 */
async function fuzzProbe(sidecar: Sidecar, count: number, origin: number): Promise<SoakFigures['fuzz']> {
  const before = appliedCount(sidecar);
  sidecar.writePolicy('    - {name: l7, match: {listener: web, protocol: http}, faults: [{type: http_abort, status: 503, probability: 0.5}]}');
  await applied(sidecar, before + 1);
  const random = seededRandom(20);
  let hangs = 0;
  const hung: string[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch = Array.from({ length: Math.min(25, count - i) }, () => fuzzInput(random));
    const results = await Promise.all(batch.map(async (input) => (await answered(origin, input)) && !(await answered(sidecar.ports.web as number, input))));
    results.forEach((hang, j) => {
      if (hang && hung.length < 5) hung.push(JSON.stringify((batch[j] as Buffer).toString('latin1')));
    });
    hangs += results.filter(Boolean).length;
    if (sidecar.child.exitCode !== null) break;
  }
  return { inputs: count, hangs, crashed: sidecar.child.exitCode !== null, hung };
}

/** 200 downloads at SIGTERM: all complete within the drain; then 200 endless ones, all reset at its deadline. */
async function drainProbe(transfers: number): Promise<SoakFigures['drain']> {
  const size = 256 * 1024;
  const sender = await server((socket) => socket.end(Buffer.alloc(size, 1)));
  const sidecar = await startSidecar({ source: sender.port }, '', '5s');
  const results = Array.from({ length: transfers }, () => download(sidecar.ports.source as number, size));
  await sleep(20);
  sidecar.child.kill('SIGTERM');
  const ended = await Promise.all(results);
  const exitCode = await sidecar.exited;
  sidecar.stop();
  sender.close();

  const trickle = await server((socket) => {
    const timer = setInterval(() => socket.write('x'), 10);
    socket.once('close', () => clearInterval(timer));
  });
  const cut = await startSidecar({ source: trickle.port }, '', '1s');
  const cutResults = Array.from({ length: transfers }, () => download(cut.ports.source as number, Infinity));
  await sleep(500);
  cut.child.kill('SIGTERM');
  const cutEnded = await Promise.all(cutResults);
  await cut.exited;
  cut.stop();
  trickle.close();
  const count = (list: string[], what: string) => list.filter((r) => r === what).length;
  return {
    transfers,
    complete: count(ended, 'complete'),
    reset: count(ended, 'reset'),
    truncated: count(ended, 'truncated'),
    exitCode,
    cutTransfers: transfers,
    cutReset: count(cutEnded, 'reset'),
    cutTruncated: count(cutEnded, 'truncated'),
  };
}

/** Runs every probe; the sidecar under test is started and stopped here. */
export async function runSoak(options: SoakOptions): Promise<SoakFigures> {
  const echo = await server((socket) => socket.pipe(socket));
  const web = createHttpServer((req, res) => void req.resume().on('end', () => res.end('ok')));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const sidecar = await startSidecar({ echo: echo.port, web: (web.address() as AddressInfo).port }, '');
  try {
    const held = await heldProbe(sidecar, options.held);
    const soak = await soakProbe(sidecar, options.seconds);
    const integrityFigures = await integrityProbe(sidecar, options.mib);
    const fuzz = await fuzzProbe(sidecar, options.fuzz, (web.address() as AddressInfo).port);
    const drain = await drainProbe(options.transfers);
    return { held, soak, integrity: integrityFigures, fuzz, drain };
  } finally {
    sidecar.stop();
    echo.close();
    web.closeAllConnections();
    web.close();
  }
}

/** The figures as the lines `npm run soak` prints. */
export function describe(f: SoakFigures): string {
  const n = (v: number, d = 1) => v.toFixed(d);
  return [
    `held connections: ${f.held.open} open, ${f.held.reachedByReload} reached by a reload; worst round trip on a live connection during a reload: ${n(f.held.reloadStallMs)} ms (rule for other traffic), ${n(f.held.faultReloadStallMs)} ms (a fault added to all); the sidecar's worst event-loop delay meanwhile: ${n(f.held.reloadLoopMs)} ms, ${n(f.held.faultReloadLoopMs)} ms`,
    `soak: ${f.soak.connections} short connections in ${f.soak.seconds} s (${f.soak.failed} failed), ${f.soak.rewrites} policy rewrites; RSS ${n(f.soak.rssMiB[0])} → ${n(f.soak.rssMiB[1])} MiB, fds ${f.soak.fds[0]} → ${f.soak.fds[1]}, connections_active after: ${f.soak.activeAfter}`,
    `integrity: ${f.integrity.mib} MiB each way with ${f.integrity.toggles} fault toggles: sha256 ${f.integrity.identical ? 'identical' : 'DIFFERENT'}`,
    `fuzz: ${f.fuzz.inputs} HTTP/1.1 inputs through an L7 rule: ${f.fuzz.hangs} hangs, ${f.fuzz.crashed ? 'CRASHED' : 'no crash'}`,
    `drain: ${f.drain.transfers} downloads at SIGTERM: ${f.drain.complete} complete, ${f.drain.reset} reset, ${f.drain.truncated} truncated, exit ${f.drain.exitCode}; ${f.drain.cutTransfers} endless ones at the deadline: ${f.drain.cutReset} reset, ${f.drain.cutTruncated} ended as if complete`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '180' },
      held: { type: 'string', default: '9000' },
      mib: { type: 'string', default: '200' },
      fuzz: { type: 'string', default: '10000' },
      transfers: { type: 'string', default: '200' },
      json: { type: 'boolean' },
    },
  });
  const figures = await runSoak({ seconds: Number(values.seconds), held: Number(values.held), mib: Number(values.mib), fuzz: Number(values.fuzz), transfers: Number(values.transfers) });
  process.stdout.write(`${values.json ? JSON.stringify(figures, null, 2) : describe(figures)}\n`);
}
