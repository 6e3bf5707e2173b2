/**
 * What inspecting L7 costs when no L7 rule matches: HTTP/1.1 keep-alive requests per second and
 * gRPC unary calls per second, direct, through the sidecar as a plain pipe (no L7 rule), and
 * through the sidecar with an L7 rule present that matches none of the requests (so every
 * connection is classified and framed: HTTP/1 by the head-only framer, gRPC by the HTTP/2
 * proxy). Interleaved rounds, one run, ratios to direct and to the plain pipe, with each
 * round's ratio (the spread). Then how soon a new L7 rule reaches connections opened before
 * it: an undici keep-alive pool and a gRPC channel make a call every 10 ms to the plain-pipe
 * sidecar while a rule that faults them is written to its policy file; the figure is the
 * time from the write to the first faulted answer (reload included). Each sidecar's CPU time
 * per request is reported too (from /proc): on a machine shared with other work it is the
 * steadier figure of what inspection costs. `--check` exits 1
 * naming each missed L7 target (bench/targets.ts).
 *
 *   node --import tsx bench/l7-overhead.ts [--quick] [--check]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { checkL7 } from './targets.js';
import { freePort, waitConnectable } from './paths.js';
import { poolRate } from './workloads.js';
import { buildCompiledCli, sidecarCli } from './runtime.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 2 : 5;
const ROUNDS = 3;
const CONNECTIONS = 8;
const GRPC_IN_FLIGHT = 32;
// The sidecar compiled, as the image runs it (see bench/runtime.ts).
buildCompiledCli();
const BIN = sidecarCli();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const identity = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  Say: { path: '/bench.Echo/Say', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

/** Upstreams in their own process: an HTTP server (64-byte body) and a gRPC echo. */
const UPSTREAMS = `
const http = require('node:http');
const grpc = require(${JSON.stringify(fileURLToPath(new URL('../node_modules/@grpc/grpc-js', import.meta.url)))});
const body = Buffer.alloc(64, 'x');
http.createServer({ keepAliveTimeout: 60000 }, (req, res) => { req.resume(); req.on('end', () => { res.setHeader('content-length', 64); res.end(body); }); }).listen(+process.argv[1], '127.0.0.1');
const id = (b) => b;
const server = new grpc.Server();
server.addService({ Say: { path: '/bench.Echo/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, { Say: (call, cb) => cb(null, call.request) });
server.bindAsync('127.0.0.1:' + process.argv[2], grpc.ServerCredentials.createInsecure(), () => {});
`;

async function httpRate(port: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  return poolRate(pool, CONNECTIONS, SECONDS);
}

async function grpcRate(port: number): Promise<number> {
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Say(b: Buffer, cb: (e: unknown) => void): void };
  const payload = Buffer.alloc(64, 1);
  const one = () => new Promise<void>((resolve, reject) => client.Say(payload, (e) => (e ? reject(e) : resolve())));
  await one();
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: GRPC_IN_FLIGHT }, async () => {
      while (performance.now() < deadline) {
        // A failed call is counted (and reported per port), not fatal: the figures still come out.
        await one().then(
          () => done++,
          (e: grpc.ServiceError) => grpcErrors.push(`${port}: ${e.code} ${e.details}`),
        );
      }
    }),
  );
  client.close();
  return done / SECONDS;
}
const grpcErrors: string[] = [];

const [httpPort, grpcPort, plainHttp, plainGrpc, l7Http, l7Grpc] = await Promise.all(Array.from({ length: 6 }, freePort));
const dir = mkdtempSync(join(tmpdir(), 'faultline-l7-bench-'));
const policy = (name: string, rules: string) => {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata: {name: ${name}}
spec:
  listeners:
    - {name: http, listen: "127.0.0.1:${name === 'plain' ? plainHttp : l7Http}", upstream: "127.0.0.1:${httpPort}"}
    - {name: grpc, listen: "127.0.0.1:${name === 'plain' ? plainGrpc : l7Grpc}", upstream: "127.0.0.1:${grpcPort}"}
  rules: ${rules}
`,
  );
  return file;
};
const plainPolicy = policy('plain', '[]');
const l7Policy = policy(
  'l7',
  `
    - {name: never-http, match: {listener: http, http: {paths: ["/never/*"]}}, faults: [{type: http_abort, status: 503}]}
    - {name: never-grpc, match: {listener: grpc, grpc: {methods: ["/never.Svc/*"]}}, faults: [{type: http_abort, grpcStatus: 14}]}`,
);
const children: ChildProcess[] = [
  spawn(process.execPath, ['-e', UPSTREAMS, String(httpPort), String(grpcPort)], { stdio: 'inherit' }),
  spawn(process.execPath, [BIN, 'sidecar', '--policy', plainPolicy, '--metrics', '127.0.0.1:0'], { env: { ...process.env, FAULTLINE_LOG_LEVEL: 'warn' }, stdio: 'inherit' }),
  spawn(process.execPath, [BIN, 'sidecar', '--policy', l7Policy, '--metrics', '127.0.0.1:0'], { env: { ...process.env, FAULTLINE_LOG_LEVEL: process.env.L7_BENCH_LOG ?? 'warn' }, stdio: 'inherit' }),
];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const port of [httpPort, grpcPort, plainHttp, plainGrpc, l7Http, l7Grpc]) if (!(await waitConnectable(port as number))) throw new Error(`nothing listens on ${port}`);

const paths = { direct: [httpPort, grpcPort], plain: [plainHttp, plainGrpc], l7: [l7Http, l7Grpc] } as Record<string, [number, number]>;
const results: Record<string, { http: number[]; grpc: number[] }> = { direct: { http: [], grpc: [] }, plain: { http: [], grpc: [] }, l7: { http: [], grpc: [] } };
/** CPU time (user + system, ms) a process has used: what a sidecar spends, whatever else the machine runs. */
const cpuMs = (pid: number | undefined): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};
const sidecarPid: Record<string, number | undefined> = { plain: children[1]?.pid, l7: children[2]?.pid };
/** Sidecar CPU microseconds per request or call, per round: steadier than rates on a shared machine. */
const cpuPerCall: Record<string, { http: number[]; grpc: number[] }> = { plain: { http: [], grpc: [] }, l7: { http: [], grpc: [] } };
async function measured(name: string, kind: 'http' | 'grpc', run: () => Promise<number>): Promise<number> {
  const pid = sidecarPid[name];
  const before = pid ? cpuMs(pid) : 0;
  const rate = await run();
  if (pid) cpuPerCall[name]?.[kind].push(+(((cpuMs(pid) - before) * 1000) / (rate * SECONDS)).toFixed(1));
  return rate;
}
// Warm-up, then interleaved rounds.
for (const [h, g] of Object.values(paths)) (await httpRate(h), await grpcRate(g));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, [h, g]] of Object.entries(paths)) {
    results[name]?.http.push(await measured(name, 'http', () => httpRate(h)));
    results[name]?.grpc.push(await measured(name, 'grpc', () => grpcRate(g)));
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const row = (kind: 'http' | 'grpc') => {
  const d = median(results.direct?.[kind] ?? []);
  const p = median(results.plain?.[kind] ?? []);
  const l = median(results.l7?.[kind] ?? []);
  return { direct: Math.round(d), plainPipe: Math.round(p), l7NotMatching: Math.round(l), l7VsDirect: +(l / d).toFixed(2), l7VsPlain: +(l / p).toFixed(2), plainVsDirect: +(p / d).toFixed(2) };
};
const spread = (kind: 'http' | 'grpc') => (results.l7?.[kind] ?? []).map((l, i) => +(l / (results.plain?.[kind][i] ?? NaN)).toFixed(2));

/** Milliseconds from `change()` to the first call `faulted` says was faulted; undefined after 5 s. */
async function reach(call: () => Promise<boolean>, change: () => void): Promise<number | undefined> {
  for (let i = 0; i < 5; i++) await call();
  const started = performance.now();
  change();
  while (performance.now() - started < 5000) {
    if (await call()) return Math.round(performance.now() - started);
    await sleep(10);
  }
  return undefined;
}

const pool = new Pool(`http://127.0.0.1:${plainHttp}`, { connections: 2, keepAliveTimeout: 60_000 });
const http1Faulted = async () => {
  const res = await pool.request({ path: '/reach', method: 'GET' });
  await res.body.dump();
  return res.statusCode === 503;
};
const GrpcClient = grpc.makeGenericClientConstructor(service, 'Echo');
const channel = new GrpcClient(`127.0.0.1:${plainGrpc}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Say(b: Buffer, cb: (e: grpc.ServiceError | null) => void): void };
const grpcFaulted = () => new Promise<boolean>((resolve) => channel.Say(Buffer.alloc(8), (e) => resolve(e?.code === 14)));
const reachRule = (listener: string, match: string) => `\n    - {name: reach-${listener}, match: {listener: ${listener}, ${match}}, faults: [{type: http_abort, status: 503, grpcStatus: 14}]}`;
const http1Rule = reachRule('http', 'http: {paths: ["/reach"]}');
const pooledReachMs = {
  http1: await reach(http1Faulted, () => policy('plain', http1Rule)),
  grpc: await reach(grpcFaulted, () => policy('plain', http1Rule + reachRule('grpc', 'grpc: {methods: ["/bench.Echo/Say"]}'))),
};
await pool.close();
channel.close();

const report = {
  seconds: SECONDS,
  rounds: ROUNDS,
  httpConnections: CONNECTIONS,
  grpcInFlight: GRPC_IN_FLIGHT,
  httpKeepAlive: { ...row('http'), l7VsPlainPerRound: spread('http'), sidecarCpuUsPerCall: cpuPerCall.plain && { plainPipe: cpuPerCall.plain.http, l7NotMatching: cpuPerCall.l7?.http } },
  grpcUnary: { ...row('grpc'), l7VsPlainPerRound: spread('grpc'), sidecarCpuUsPerCall: cpuPerCall.plain && { plainPipe: cpuPerCall.plain.grpc, l7NotMatching: cpuPerCall.l7?.grpc } },
  pooledReachMs,
  grpcErrors: grpcErrors.map((e) => e.replace(String(l7Grpc), 'l7').replace(String(plainGrpc), 'plain').replace(String(grpcPort), 'direct')),
};
console.log(JSON.stringify(report, null, 2));
if (process.argv.includes('--check')) {
  const missed = checkL7(report);
  for (const line of missed) console.error(`missed: ${line}`);
  process.exit(missed.length > 0 ? 1 : 0);
}
process.exit(0);
