/**
 * What shadow traffic costs: HTTP/1.1 keep-alive requests per second through one sidecar
 * listener with a mirror rule copying 100% of the requests to a second origin (compared
 * exactly), against the same listener with the same rule at probability 0 (every connection
 * inspected, nothing copied) and with no rule at all (a plain pipe). The three are interleaved
 * round by round in one run, the sidecar's policy file rewritten between rounds; the figures
 * are ratios, with each round's, and the sidecar's CPU time per request (from /proc).
 *
 *   node --import tsx bench/mirror.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { freePort } from './paths.js';
import { poolRate } from './workloads.js';
import { buildCompiledCli, sidecarCli } from './runtime.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 2 : 5;
const ROUNDS = 3;
const CONNECTIONS = 8;
// The sidecar compiled, as the image runs it (see bench/runtime.ts).
buildCompiledCli();
const BIN = sidecarCli();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two origins in their own process, answering the same 64-byte JSON body. */
const ORIGINS = `
const http = require('node:http');
const body = Buffer.from(JSON.stringify({ ok: true, pad: 'x'.repeat(50) }).slice(0, 64));
for (const port of process.argv.slice(1)) http.createServer({ keepAliveTimeout: 60000 }, (req, res) => { req.resume(); req.on('end', () => { res.setHeader('content-type', 'application/json'); res.setHeader('content-length', body.length); res.end(body); }); }).listen(+port, '127.0.0.1');
`;

async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await (await request(url)).body.text();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing answers at ${url}`);
}

const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};

async function rate(port: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  return poolRate(pool, CONNECTIONS, SECONDS);
}

const [primary, shadow, listen, admin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
const origins = spawn(process.execPath, ['-e', ORIGINS, String(primary), String(shadow)], { stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-mirror-'));
const file = join(dir, 'policy.yaml');
const policy = (probability: number | undefined) => `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata: {name: bench-${probability ?? 'none'}}
spec:
  listeners: [{name: http, listen: "127.0.0.1:${listen}", upstream: "127.0.0.1:${primary}"}]
  rules:${probability === undefined ? ' []' : `
    - {name: dr, match: {listener: http, protocol: http}, faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", probability: ${probability}, concurrency: 256}]}`}
`;
writeFileSync(file, policy(undefined));
const sidecar = spawn(process.execPath, [BIN, 'sidecar', '--policy', file, '--admin', `127.0.0.1:${admin}`, '--metrics', '127.0.0.1:0'], { stdio: 'ignore', env: { ...process.env, FAULTLINE_LOG_LEVEL: 'warn' } });
const stop = () => {
  sidecar.kill();
  origins.kill();
};
process.on('exit', stop);
try {
  await waitUp(`http://127.0.0.1:${primary}/`);
  await waitUp(`http://127.0.0.1:${shadow}/`);
  await waitUp(`http://127.0.0.1:${listen}/`);
  const arms = { none: undefined, 'mirror-0': 0, 'mirror-100': 1 } as const;
  const results: Record<string, { rps: number[]; cpuUsPerReq: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, probability] of Object.entries(arms)) {
      writeFileSync(file, policy(probability));
      await sleep(600); // the reload (polled every 250 ms)
      await rate(listen); // warm-up; pooled connections opened before the rule reconnect meanwhile
      const before = cpuMs(sidecar.pid as number);
      const rps = await rate(listen);
      const cpu = ((cpuMs(sidecar.pid as number) - before) * 1000) / (rps * SECONDS);
      (results[name] ??= { rps: [], cpuUsPerReq: [] }).rps.push(Math.round(rps));
      (results[name] as { cpuUsPerReq: number[] }).cpuUsPerReq.push(+cpu.toFixed(1));
    }
  }
  const mirror = (await (await request(`http://127.0.0.1:${admin}/mirror`)).body.json()) as { rules: { counts: Record<string, number> }[] };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const ratio = (a: string, b: string) => +(sum(results[a]?.rps ?? []) / sum(results[b]?.rps ?? [])).toFixed(2);
  const perRound = (a: string, b: string) => (results[a]?.rps ?? []).map((v, i) => +(v / (results[b]?.rps[i] ?? 1)).toFixed(2));
  console.log(JSON.stringify({
    seconds: SECONDS,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    results,
    'mirror-100 / mirror-0': ratio('mirror-100', 'mirror-0'),
    'mirror-100 / mirror-0 per round': perRound('mirror-100', 'mirror-0'),
    'mirror-100 / none': ratio('mirror-100', 'none'),
    'mirror-0 / none': ratio('mirror-0', 'none'),
    mirrored: mirror.rules[0]?.counts ?? {},
  }, null, 2));
} finally {
  stop();
}
