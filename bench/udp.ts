/**
 * UDP and DNS figures, apart from the TCP bench (run alone):
 *
 *   node --import tsx bench/udp.ts [--seconds 3] [--rounds 3] [--queries 200]
 *
 * 1. UDP relay throughput: a client keeps 32 datagrams (64 bytes) in flight against a UDP echo
 *    server, directly and through a sidecar's `protocol: udp` listener with no fault; datagrams
 *    per second of each, interleaved round by round, medians, and their ratio.
 * 2. DNS delay accuracy: `dns_delay: 100ms` on a `protocol: dns` listener in front of dnsmasq;
 *    the error of each answer's time (observed − 100 ms) over `queries` sequential node:dns
 *    lookups, p50 and p99, beside the proxy's own no-fault time.
 *
 * The echo server, the sidecar and this client are separate processes, all on CPU 0 (taskset),
 * like the TCP bench's default placement. Writes bench/results/udp-<timestamp>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCompiledCli, sidecarCli } from './runtime.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' }, queries: { type: 'string', default: '200' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const QUERIES = Number(values.queries);
// The sidecar compiled, as the image runs it (see bench/runtime.ts).
buildCompiledCli();
const BIN = sidecarCli();
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] as number;

/** Starts a process on CPU 0 and resolves with the first stdout line `pick` accepts. */
function start(args: string[], pick: (line: string) => string | undefined): Promise<string> {
  const child = spawn('taskset', ['-c', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FAULTLINE_LOG_LEVEL: 'info' } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d;
      for (const line of text.split('\n')) {
        const found = pick(line);
        if (found !== undefined) return resolve(found);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error(`${args.join(' ')} exited:\n${text}`)));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Datagrams per second a client keeping `window` in flight gets back from port within `seconds`. */
async function throughput(port: number, seconds: number, window = 32): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const payload = Buffer.alloc(64);
  let received = 0;
  let inFlight = 0;
  let stopped = false;
  const send = () => {
    inFlight++;
    socket.send(payload, port, '127.0.0.1');
  };
  socket.on('message', () => {
    received++;
    inFlight--;
    if (!stopped) send();
  });
  // A datagram lost for good would shrink the window: top it up every 100 ms.
  const topUp = setInterval(() => {
    while (!stopped && inFlight < window) send();
    inFlight = Math.min(inFlight, window);
  }, 100);
  for (let i = 0; i < window; i++) send();
  await sleep(seconds * 1000);
  stopped = true;
  clearInterval(topUp);
  socket.close();
  return received / seconds;
}

const echoPort = Number(
  await start([process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(0,'127.0.0.1',()=>console.log('port',s.address().port))"], (l) => /^port (\d+)/.exec(l)?.[1]),
);
const dnsmasqPort = await freePort();
await start(['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', `--port=${dnsmasqPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--user=root', '--pid-file=', '--log-facility=-', '--host-record=slow.bench.test,10.1.2.3', '--host-record=fast.bench.test,10.1.2.4'], (l) => (/started, version/.test(l) ? 'ok' : undefined));
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-udp-'));
const policy = join(dir, 'policy.yaml');
writeFileSync(
  policy,
  `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata: {name: bench-udp}
spec:
  listeners:
    - {name: udp, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echoPort}", protocol: udp}
    - {name: dns, listen: "127.0.0.1:0", upstream: "127.0.0.1:${dnsmasqPort}", protocol: dns}
  rules:
    - {name: slow, match: {dns: {names: [slow.bench.test]}}, faults: [{type: dns_delay, delay: 100ms}]}
`,
);
const ports: Record<string, number> = {};
const sidecar = start([process.execPath, BIN, 'sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], (l) => {
  const m = /"listener":"(udp|dns)".*"address":"127\.0\.0\.1:(\d+)"/.exec(l);
  if (m) ports[m[1] as string] = Number(m[2]);
  return ports.udp && ports.dns ? 'ok' : undefined;
});
await sidecar;

const direct: number[] = [];
const relay: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so drift over the run does not favour one.
  const order = round % 2 === 0 ? ['direct', 'relay'] : ['relay', 'direct'];
  for (const which of order) (which === 'direct' ? direct : relay).push(await throughput(which === 'direct' ? echoPort : (ports.udp as number), SECONDS));
  process.stderr.write(`\rround ${round + 1}/${ROUNDS}`);
}

const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
resolver.setServers([`127.0.0.1:${ports.dns}`]);
/** A lookup's time in ms, or undefined when it got no answer within the resolver's 2 s (counted apart). */
const time = async (name: string) => {
  const started = performance.now();
  try {
    await resolver.resolve4(name);
    return performance.now() - started;
  } catch {
    return undefined;
  }
};
for (let i = 0; i < 20; i++) await time('fast.bench.test');
const plain: number[] = [];
const errors: number[] = [];
let unanswered = 0;
for (let i = 0; i < QUERIES; i++) {
  const fast = await time('fast.bench.test');
  const slow = await time('slow.bench.test');
  if (fast === undefined || slow === undefined) unanswered++;
  if (fast !== undefined) plain.push(fast);
  if (slow !== undefined) errors.push(slow - 100);
}

const results = {
  at: new Date().toISOString(),
  node: process.version,
  placement: 'client, echo server, sidecar: CPU 0',
  udp: { seconds: SECONDS, rounds: ROUNDS, window: 32, size: 64, directPerSecond: Math.round(median(direct)), relayPerSecond: Math.round(median(relay)), ratio: Math.round((median(relay) / median(direct)) * 1000) / 1000, direct, relay },
  dnsDelay: { delayMs: 100, queries: QUERIES, errorP50Ms: Math.round(median(errors) * 100) / 100, errorP99Ms: Math.round(quantile(errors, 0.99) * 100) / 100, errorMinMs: Math.round(Math.min(...errors) * 100) / 100, unanswered, noFaultP50Ms: Math.round(median(plain) * 100) / 100 },
};
const out = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(out, { recursive: true });
const file = join(out, `udp-${results.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write('\n');
process.stdout.write(
  [
    `| figure | value |`,
    `|---|---|`,
    `| UDP echo, direct | ${results.udp.directPerSecond} datagrams/s |`,
    `| UDP echo through a udp listener (no fault) | ${results.udp.relayPerSecond} datagrams/s (${results.udp.ratio} of direct) |`,
    `| dns_delay 100 ms: error p50 / p99 | ${results.dnsDelay.errorP50Ms} / ${results.dnsDelay.errorP99Ms} ms (min ${results.dnsDelay.errorMinMs}; ${unanswered} of ${QUERIES * 2} lookups unanswered in 2 s) |`,
    `| DNS through the proxy, no fault: p50 | ${results.dnsDelay.noFaultP50Ms} ms |`,
    `results: ${file}`,
    '',
  ].join('\n'),
);
process.exit(0);
