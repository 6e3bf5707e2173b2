import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultlineError, ListenError, PositionedError } from './errors.js';
import { createAdminServer } from './admin/server.js';
import { logger } from './log.js';
import { createMetricsServer } from './metrics-server.js';
import { Sidecar } from './sidecar.js';

const BIG = Buffer.alloc(512 * 1024, 'faultline ');

/** The demo's upstream: `/` answers hello, `/big` sends 512 KiB. */
export function startDemoUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/big') res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length }).end(BIG);
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from the demo upstream\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The example policy: one listener per fault to try, plus one without faults. */
export function demoPolicy(upstreamPort: number, basePort: number): string {
  const upstream = `127.0.0.1:${upstreamPort}`;
  const listener = (name: string, offset: number) =>
    `    - {name: ${name}, listen: "127.0.0.1:${basePort === 0 ? 0 : basePort + offset}", upstream: "${upstream}"}`;
  return `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata:
  name: demo
spec:
  enabled: true
  listeners:
${listener('direct', 0)}
${listener('slow', 1)}
${listener('flaky', 2)}
${listener('capped', 3)}
  rules:
    - name: slow-responses
      match: {listener: slow}
      faults:
        - {type: latency, latency: 300ms, jitter: 20ms, stream: downstream}
    - name: flaky-connections
      match: {listener: flaky}
      faults:
        - {type: reset, probability: 0.5}
    - name: thin-pipe
      match: {listener: capped}
      faults:
        - {type: bandwidth, rate: 128KiB/s, stream: downstream}
`;
}

interface Fetched {
  ok: boolean;
  ms: number;
  bytes: number;
  error?: string | undefined;
}

function fetchOnce(port: number, path: string): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ ok: true, ms: performance.now() - started, bytes }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - started, bytes, error: err.code }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - started, bytes: 0, error: err.code ?? err.message }));
    req.end();
  });
}

/** Shows each fault with a real client, through the running sidecar. */
export async function tour(sidecar: Sidecar, out: (line: string) => void): Promise<void> {
  const port = (name: string) => sidecar.address(name).port;
  const direct = await fetchOnce(port('direct'), '/');
  const slow = await fetchOnce(port('slow'), '/');
  out(`  latency:   GET / direct took ${direct.ms.toFixed(1)} ms, through "slow" ${slow.ms.toFixed(1)} ms (300 ms ± 20 ms injected)`);
  const flaky = await Promise.all(Array.from({ length: 10 }, () => fetchOnce(port('flaky'), '/')));
  const resets = flaky.filter((r) => !r.ok);
  out(`  reset:     10 requests through "flaky": ${10 - resets.length} answered, ${resets.length} reset (${[...new Set(resets.map((r) => r.error))].join(', ') || 'none'}; 50% injected)`);
  const capped = await fetchOnce(port('capped'), '/big');
  const rate = capped.bytes / 1024 / (capped.ms / 1000);
  out(`  bandwidth: 512 KiB through "capped" took ${(capped.ms / 1000).toFixed(2)} s = ${rate.toFixed(0)} KiB/s (128 KiB/s injected)`);
}

/** How often each rule's faults fired so far, from the sidecar's own metrics. */
async function faultCounts(sidecar: Sidecar): Promise<string> {
  const counts = new Map<string, number>();
  for (const { labels, value } of (await sidecar.metrics.faultsInjected.get()).values) {
    counts.set(String(labels.rule), (counts.get(String(labels.rule)) ?? 0) + value);
  }
  return [...counts].map(([rule, n]) => `${rule} ${n}`).join(', ') || 'none';
}

/** Binds `server` on 127.0.0.1:`port`, or on any free port when that one is taken. */
function listenOrAny(server: Server, port: number): Promise<number> {
  const bind = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  return bind(port).catch(() => bind(0));
}

export interface DemoOptions {
  basePort: number;
  once: boolean;
  out: (line: string) => void;
}

export interface Demo {
  sidecar: Sidecar;
  upstream: Server;
  /** The admin API (with /ui) and the metrics endpoint. */
  servers: Server[];
  /** Removes the demo's folder (its policy and admin token): what stopping the demo does last. */
  removeDir(): void;
}

/** A demo port already taken (another demo running, most likely) as one line that says what to do. */
function portTaken(err: unknown, basePort: number): FaultlineError | undefined {
  if (!(err instanceof PositionedError)) return undefined;
  const taken = err.problems.find((p) => p.code === 'FL_ERR_LISTEN');
  if (!taken) return undefined;
  const address = /cannot listen on (\S+):/.exec(taken.message)?.[1] ?? `127.0.0.1:${basePort}`;
  return new ListenError(`${address} is already in use (another faultline demo running?): stop it, or run faultline demo --base-port 0 for any free ports (or --base-port N for N to N+3)`);
}

/** Starts the demo upstream and a sidecar on loopback, runs the tour, prints what to try. */
export async function runDemo(options: DemoOptions): Promise<Demo> {
  const { out } = options;
  const upstream = await startDemoUpstream();
  const upstreamPort = (upstream.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'faultline-demo-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, demoPolicy(upstreamPort, options.basePort));
  const sidecar = new Sidecar({ policyFile });
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  try {
    await sidecar.start();
  } catch (err) {
    upstream.close();
    removeDir();
    throw portTaken(err, options.basePort) ?? err;
  }
  // The admin API and metrics at their usual ports (15000, 15020) when free; the token is the demo's own.
  const tokenFile = join(dir, 'admin-token');
  writeFileSync(tokenFile, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const admin = createAdminServer({ sidecar, tokenFile, log: logger });
  const metrics = createMetricsServer(sidecar.metrics, () => sidecar.ready);
  const servers = [admin, metrics];
  const adminPort = await listenOrAny(admin, options.basePort === 0 ? 0 : 15000);
  const metricsPort = await listenOrAny(metrics, options.basePort === 0 ? 0 : 15020);
  out(`faultline demo: upstream on 127.0.0.1:${upstreamPort}, sidecar policy ${policyFile}`);
  out('');
  out('What the faults do, measured just now with a real client:');
  await tour(sidecar, out);
  out(`  proof:     faultline_faults_injected_total on /metrics: ${await faultCounts(sidecar)}`);
  if (options.once) return { sidecar, upstream, servers, removeDir };
  const p = (name: string) => sidecar.address(name).port;
  out('');
  out('Try it yourself:');
  out(`  curl -s -w '%{time_total}s\\n' -o /dev/null http://127.0.0.1:${p('direct')}/     # no fault`);
  out(`  curl -s -w '%{time_total}s\\n' -o /dev/null http://127.0.0.1:${p('slow')}/     # +300 ms`);
  out(`  for i in 1 2 3 4 5; do curl -s http://127.0.0.1:${p('flaky')}/ || echo reset; done   # half reset`);
  out(`  curl -s -w '%{speed_download} B/s\\n' -o /dev/null http://127.0.0.1:${p('capped')}/big   # 128 KiB/s`);
  out('');
  out('Watch and steer it:');
  out(`  http://127.0.0.1:${adminPort}/ui in a browser        # live connections, rules, fault counters`);
  out(`  curl -s http://127.0.0.1:${adminPort}/connections      # each connection: peers, bytes, faults fired`);
  out(`  curl -s http://127.0.0.1:${metricsPort}/metrics | grep '^faultline_faults'`);
  out(`  curl -s -X POST -H "Authorization: Bearer $(cat ${tokenFile})" http://127.0.0.1:${adminPort}/killswitch   # every fault off`);
  out(`  npx faultline status --admin http://127.0.0.1:${adminPort}                 # what a cluster's pods show with -n NS`);
  out(`  npx faultline killswitch off --admin http://127.0.0.1:${adminPort} --token-file ${tokenFile}`);
  out('');
  out(`Edit ${policyFile} (e.g. latency: 1s, or enabled: false): live connections change within a second.`);
  out(`Ctrl-C to stop (the demo's folder ${dir}, with its token, goes with it).`);
  return { sidecar, upstream, servers, removeDir };
}
