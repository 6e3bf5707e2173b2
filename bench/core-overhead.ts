/**
 * The sidecar core's own figures, as ratios to a direct connection measured in the same run:
 * bulk throughput (1 GiB, one connection), 64-byte echo round trips (p50/p99 of 20,000), both
 * through the sidecar with no fault and through a minimal Node pipe proxy (the floor for any
 * Node proxy), interleaved over 3 rounds; then the time from a policy file change to its effect
 * on a live connection.
 *
 *   node --import tsx bench/core-overhead.ts [--quick] [--spread]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitConnectable } from './paths.js';
import { processes } from './processes.js';
import { bulk as bulkOf, echo, roundTrip } from './workloads.js';
import { buildCompiledCli, sidecarCli } from './runtime.js';

const quick = process.argv.includes('--quick');
/**
 * Every process on CPU 0 by default: on this VM an idle second vCPU takes ~80 us to wake, which
 * would swamp the proxies' own cost. `--spread` puts the proxies on CPU 1.
 */
const PROXY_CPU = process.argv.includes('--spread') ? 1 : 0;
const BULK = quick ? 256 * 1024 ** 2 : 1024 ** 3;
const ROUND_TRIPS = quick ? 5000 : 20_000;
const ROUNDS = 3;
// The sidecar compiled, as the image runs it (see bench/runtime.ts).
buildCompiledCli();
const BIN = sidecarCli();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pinned(cpu: number, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return processes.spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
}

const echoLatency = (port: number) => echo(port, ROUND_TRIPS);

const UPSTREAMS = `const net = require('net');
net.createServer({ noDelay: true }, (s) => { s.on('error', () => {}); s.pipe(s); }).listen(+process.argv[1], '127.0.0.1');
net.createServer((s) => { s.on('error', () => {}); s.resume(); s.on('end', () => s.end()); }).listen(+process.argv[2], '127.0.0.1');`;
const MINIMAL_PIPE = `const net = require('net');
for (const [listen, upstream] of [[+process.argv[1], +process.argv[2]], [+process.argv[3], +process.argv[4]]])
  net.createServer((c) => { const s = net.connect(upstream, '127.0.0.1'); c.pipe(s).pipe(c); c.on('error', () => s.destroy()); s.on('error', () => c.destroy()); }).listen(listen, '127.0.0.1');`;

const [echoPort, sinkPort, sidecarEcho, sidecarBulk, pipeEcho, pipeBulk] = (await Promise.all(Array.from({ length: 6 }, freePort))) as [number, number, number, number, number, number];
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
const policyFile = join(dir, 'policy.yaml');
const policy = (rules: string) => `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata: {name: bench}
spec:
  listeners:
    - {name: echo, listen: "127.0.0.1:${sidecarEcho}", upstream: "127.0.0.1:${echoPort}"}
    - {name: bulk, listen: "127.0.0.1:${sidecarBulk}", upstream: "127.0.0.1:${sinkPort}"}
  rules: ${rules}
`;
writeFileSync(policyFile, policy('[]'));
const children = [
  pinned(0, ['-e', UPSTREAMS, String(echoPort), String(sinkPort)]),
  pinned(PROXY_CPU, [BIN, 'sidecar', '--policy', policyFile, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'warn' }),
  pinned(PROXY_CPU, ['-e', MINIMAL_PIPE, String(pipeEcho), String(echoPort), String(pipeBulk), String(sinkPort)]),
];
process.on('exit', () => children.forEach((c) => c.kill()));
for (const port of [echoPort, sinkPort, sidecarEcho, sidecarBulk, pipeEcho, pipeBulk]) await waitConnectable(port);

const paths = { direct: [echoPort, sinkPort], sidecar: [sidecarEcho, sidecarBulk], 'node pipe': [pipeEcho, pipeBulk] } as const;
const results: Record<string, { bulk: number[]; p50: number[]; p99: number[] }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, [echo, sink]] of Object.entries(paths)) {
    const r = (results[name] ??= { bulk: [], p50: [], p99: [] });
    const { p50, p99 } = await echoLatency(echo);
    r.p50.push(p50);
    r.p99.push(p99);
    r.bulk.push(await bulkOf(sink, BULK));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const direct = results.direct as { bulk: number[]; p50: number[]; p99: number[] };
console.log(`placement: client cpu 0, upstreams cpu 0, proxies cpu ${PROXY_CPU}; ${ROUNDS} rounds interleaved, medians`);
console.log('path        bulk MiB/s  (x direct)   echo p50 us (x direct)   echo p99 us');
for (const [name, r] of Object.entries(results)) {
  const b = median(r.bulk);
  const p = median(r.p50);
  console.log(
    `${name.padEnd(11)} ${b.toFixed(0).padStart(10)}  (${(b / median(direct.bulk)).toFixed(2)}x)   ${p.toFixed(1).padStart(11)} (${(p / median(direct.p50)).toFixed(2)}x)   ${median(r.p99).toFixed(1).padStart(11)}`,
  );
}
const side = results.sidecar as typeof direct;
const pipe = results['node pipe'] as typeof direct;
console.log(`sidecar vs node pipe: bulk ${(median(side.bulk) / median(pipe.bulk)).toFixed(2)}x, echo p50 ${(median(side.p50) / median(pipe.p50)).toFixed(2)}x`);

// Reload to effect: swap the file atomically (as the kubelet does) and time until a live
// connection's round trip shows the 50 ms latency.
const live = connect(sidecarEcho, '127.0.0.1');
live.setNoDelay(true);
await new Promise((r) => live.once('connect', r));
const reloads: number[] = [];
for (let i = 0; i < 5; i++) {
  writeFileSync(`${policyFile}.tmp`, policy('[{name: slow, match: {listener: echo}, faults: [{type: latency, latency: 50ms}]}]'));
  const changedAt = performance.now();
  renameSync(`${policyFile}.tmp`, policyFile);
  for (;;) {
    const sentAt = performance.now();
    const rtt = (await roundTrip(live, Buffer.alloc(64))) / 1000;
    if (rtt >= 45) {
      reloads.push(sentAt - changedAt);
      break;
    }
    if (performance.now() - changedAt > 5000) throw new Error('the policy change never took effect');
    await sleep(2);
  }
  writeFileSync(`${policyFile}.tmp`, policy('[]'));
  renameSync(`${policyFile}.tmp`, policyFile);
  await sleep(500);
}
console.log(`policy change to effect on a live connection: median ${median(reloads).toFixed(0)} ms, max ${Math.max(...reloads).toFixed(0)} ms (5 changes)`);
live.destroy();
process.exit(0);
