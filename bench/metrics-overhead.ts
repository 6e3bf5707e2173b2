/**
 * What faultline's metrics cost, as a ratio measured in one run: HTTP requests per second
 * through a sidecar with metrics on vs the same sidecar with metrics off (a registry that
 * records nothing), over keep-alive connections and with a new connection per request (where
 * the per-connection metric updates are paid on every request); then the memory each idle
 * connection holds in the sidecar (V8 heap delta over 1,000 idle connections, after GC).
 * Loopback only; every loop is bounded; 3 interleaved rounds, medians.
 *
 *   node --import tsx bench/metrics-overhead.ts [--quick]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Pool } from 'undici';
import { Metrics } from '../src/metrics.js';
import { Sidecar } from '../src/sidecar.js';

const SELF = fileURLToPath(import.meta.url);
const quick = process.argv.includes('--quick');
const KEEP_ALIVE_REQUESTS = quick ? 5_000 : 20_000;
const NEW_CONNECTION_REQUESTS = quick ? 1_000 : 4_000;
const CONCURRENCY = 16;
const ROUNDS = 3;
const IDLE_CONNECTIONS = 1_000;

interface Ports {
  http: number;
  echo: number;
}

/** Child role: the upstreams, an HTTP server (tiny fixed answer) and a TCP echo. */
async function upstreams(): Promise<void> {
  const body = Buffer.from('ok\n');
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, (_req, res) => res.writeHead(200, { 'content-length': body.length }).end(body));
  const echo = createServer((s) => (s.on('error', () => {}), s.pipe(s)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  process.send?.({ http: (http.address() as { port: number }).port, echo: (echo.address() as { port: number }).port });
}

/** Child role: a sidecar with metrics on or off, listeners to both upstreams, no rule. */
async function sidecar(metricsOn: boolean, upstream: Ports): Promise<void> {
  const side = new Sidecar({ log: pino({ level: 'warn' }), metrics: new Metrics({ enabled: metricsOn }) });
  await side.start();
  await side.setOverlay({
    listeners: [
      { name: 'http', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.http}` },
      { name: 'echo', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.echo}` },
    ],
    rules: [],
  });
  process.on('message', () => {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const { heapUsed, rss } = process.memoryUsage();
    process.send?.({ heapUsed, rss, connections: side.connections.size });
  });
  process.send?.({ http: side.address('http').port, echo: side.address('echo').port });
}

function child(args: string[]): Promise<{ proc: ChildProcess; ports: Ports }> {
  const proc = fork(SELF, args, { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => proc.once('message', (ports) => resolve({ proc, ports: ports as Ports })));
}

function ask(proc: ChildProcess): Promise<{ heapUsed: number; rss: number; connections: number }> {
  return new Promise((resolve) => {
    proc.once('message', (m) => resolve(m as { heapUsed: number; rss: number; connections: number }));
    proc.send('heap');
  });
}

/** Requests per second: `total` GETs from CONCURRENCY workers; `reset` closes each connection after its request. */
async function load(port: number, total: number, reset: boolean): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < total) {
        issued++;
        const res = await pool.request({ path: '/', method: 'GET', reset });
        await res.body.dump();
      }
    }),
  );
  const rps = total / ((performance.now() - started) / 1000);
  await pool.close();
  return rps;
}

/** Heap and RSS per idle connection in a sidecar, from IDLE_CONNECTIONS connections held open. */
async function perConnection(proc: ChildProcess, port: number): Promise<{ heap: number; rss: number }> {
  const before = await ask(proc);
  const sockets: Socket[] = [];
  for (let i = 0; i < IDLE_CONNECTIONS; i++) {
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    sockets.push(socket);
  }
  let after = await ask(proc);
  for (let i = 0; i < 100 && after.connections < IDLE_CONNECTIONS; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await ask(proc);
  }
  // Let the upstream dials settle before the final measure.
  await new Promise((r) => setTimeout(r, 300));
  after = await ask(proc);
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  return { heap: (after.heapUsed - before.heapUsed) / IDLE_CONNECTIONS, rss: (after.rss - before.rss) / IDLE_CONNECTIONS };
}

/** In-process: the metric updates one connection makes (open, then close with its duration and bytes), in microseconds. */
function updateCost(): number {
  const metrics = new Metrics({ processMetrics: false });
  const n = quick ? 50_000 : 200_000;
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const tally = metrics.connectionTally('http', 'outbound');
      const client = { bytesRead: 100, bytesWritten: 100 };
      tally.open(client);
      tally.close(client, 0.01);
    }
    best = Math.min(best, ((performance.now() - started) * 1000) / n);
  }
  return best;
}

/** µs per `faultline_bytes_total` scrape of `metrics`: the best of ROUNDS rounds of 50 scrapes. */
async function bestScrapeUs(metrics: Metrics): Promise<number> {
  const bytes = metrics.registry.getSingleMetric('faultline_bytes_total') as { get(): Promise<unknown> };
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < 50; i++) await bytes.get();
    best = Math.min(best, ((performance.now() - started) * 1000) / 50);
  }
  return best;
}

/**
 * In-process: what one scrape of faultline_bytes_total costs with `live` open connections (their
 * bytes are summed at each scrape so that long connections show while they flow), in µs per
 * scrape; best of ROUNDS over 50 scrapes.
 */
async function liveBytesScrapeCost(live: number): Promise<number> {
  const metrics = new Metrics({ processMetrics: false });
  for (let i = 0; i < live; i++) metrics.connectionTally(`l${i % 8}`, 'outbound').open({ bytesRead: i, bytesWritten: 2 * i });
  return bestScrapeUs(metrics);
}

/** The same with real loopback sockets (their byte counts read through the native handle), `live` of them. */
async function liveBytesScrapeCostSockets(live: number): Promise<number> {
  const server = createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const metrics = new Metrics({ processMetrics: false });
  const sockets: Socket[] = [];
  for (let i = 0; i < live; i++) {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('x');
    sockets.push(socket);
    metrics.connectionTally(`l${i % 8}`, 'outbound').open(socket);
  }
  const best = await bestScrapeUs(metrics);
  for (const s of sockets) s.destroy();
  server.close();
  return best;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const up = await child(['--upstreams']);
  const on = await child(['--sidecar', 'on', JSON.stringify(up.ports)]);
  const off = await child(['--sidecar', 'off', JSON.stringify(up.ports)]);
  const children = [up.proc, on.proc, off.proc];
  process.on('exit', () => children.forEach((c) => c.kill()));

  // Warm-up: JIT and connection pools on both paths.
  for (const side of [on, off]) await load(side.ports.http, 2_000, false);
  const results = { on: { keepAlive: [] as number[], perConnection: [] as number[] }, off: { keepAlive: [] as number[], perConnection: [] as number[] } };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, side] of [['on', on], ['off', off]] as const) {
      results[name].keepAlive.push(await load(side.ports.http, KEEP_ALIVE_REQUESTS, false));
      results[name].perConnection.push(await load(side.ports.http, NEW_CONNECTION_REQUESTS, true));
    }
  }
  const kaOn = median(results.on.keepAlive);
  const kaOff = median(results.off.keepAlive);
  const ncOn = median(results.on.perConnection);
  const ncOff = median(results.off.perConnection);
  console.log(`${ROUNDS} rounds interleaved, medians; ${CONCURRENCY} concurrent requests; loopback`);
  console.log('                          metrics on   metrics off   on/off');
  console.log(`keep-alive req/s        ${kaOn.toFixed(0).padStart(11)}   ${kaOff.toFixed(0).padStart(11)}   ${(kaOn / kaOff).toFixed(3)}x`);
  console.log(`new connection req/s    ${ncOn.toFixed(0).padStart(11)}   ${ncOff.toFixed(0).padStart(11)}   ${(ncOn / ncOff).toFixed(3)}x`);
  console.log(`metric updates per connection (in-process, best of ${ROUNDS}): ${updateCost().toFixed(2)} us`);
  for (const live of [0, 1_000, 10_000, 100_000]) {
    console.log(`bytes_total scrape with ${String(live).padStart(6)} open connections (in-process, best of ${ROUNDS}): ${(await liveBytesScrapeCost(live)).toFixed(1)} us`);
  }
  console.log(`bytes_total scrape with   2000 open loopback sockets (in-process, best of ${ROUNDS}): ${(await liveBytesScrapeCostSockets(2_000)).toFixed(1)} us`);

  for (const [name, side] of [['on', on], ['off', off]] as const) {
    const mem = await perConnection(side.proc, side.ports.echo);
    console.log(`idle connection, metrics ${name.padEnd(3)}: ${(mem.heap / 1024).toFixed(1)} KiB of V8 heap, ${(mem.rss / 1024).toFixed(1)} KiB of RSS (over ${IDLE_CONNECTIONS} connections)`);
  }
  process.exit(0);
}

const role = process.argv[2];
if (role === '--upstreams') await upstreams();
else if (role === '--sidecar') await sidecar(process.argv[3] === 'on', JSON.parse(process.argv[4] as string) as Ports);
else await main();
