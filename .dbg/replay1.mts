// Records undici keep-alive requests to a node:http server through a TCP tap, replays them through the HTTP/1 framers in-process.
import { createServer as httpServer } from 'node:http';
import { createServer, connect } from 'node:net';
import { Pool } from 'undici';
import { pino } from 'pino';
import { FaultEngine } from '/work/wt/l7perf/src/engine/engine.js';
import { compilePolicy } from '/work/wt/l7perf/src/policy/compile.js';
import { policyText } from '/work/wt/l7perf/test/helpers/sidecar.js';
import { Http1RequestFramer } from '/work/wt/l7perf/src/l7/http1-request.js';
import { Http1ResponseFramer } from '/work/wt/l7perf/src/l7/http1-response.js';
const N = 4000;
const body = Buffer.alloc(64, 'x');
const hs = httpServer({ keepAliveTimeout: 60000 }, (q, s) => { q.resume(); q.on('end', () => { s.setHeader('content-length', 64); s.end(body); }); });
await new Promise<void>((r) => hs.listen(0, '127.0.0.1', r));
const log: { dir: 'c' | 'u'; chunk: Buffer }[] = [];
const tap = createServer((c) => {
  const u = connect((hs.address() as any).port, '127.0.0.1');
  c.on('data', (d) => { log.push({ dir: 'c', chunk: Buffer.from(d) }); u.write(d); });
  u.on('data', (d) => { log.push({ dir: 'u', chunk: Buffer.from(d) }); c.write(d); });
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
});
await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
const pool = new Pool(`http://127.0.0.1:${(tap.address() as any).port}`, { connections: 1 });
for (let i = 0; i < N; i++) { const r = await pool.request({ path: '/bench', method: 'GET' }); await r.body.dump(); }
await pool.close(); hs.close(); tap.close();
console.log('recorded', log.length, 'chunks');
const policy = compilePolicy(policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'], rules: `    - name: never
      match: {listener: up, http: {paths: ["/never/*"]}}
      faults: [{type: http_abort, status: 503}]` }), 'p.yaml');
const engine = new FaultEngine(Date.now, Math.random);
engine.setPolicy(policy);
async function run(): Promise<number> {
  const state = engine.open({ listener: 'up', direction: 'outbound', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 1 } });
  const ended = new AbortController();
  let counted = 0;
  const host: any = { id: 'r', engine, state, log: pino({ level: 'silent' }), signal: ended.signal, countFault: () => {}, countRequest: () => counted++, close: () => {}, reset: () => {} };
  const response = new Http1ResponseFramer(host);
  const request = new Http1RequestFramer(host, response);
  request.on('data', () => {}); response.on('data', () => {});
  const started = process.cpuUsage();
  for (const { dir, chunk } of log) {
    await new Promise<void>((r) => (dir === 'c' ? request : response).write(chunk, () => r()));
  }
  const used = process.cpuUsage(started);
  ended.abort();
  if (counted < N) console.log('counted only', counted);
  return (used.user + used.system) / N;
}
for (let i = 0; i < 5; i++) await run();
const runs: number[] = [];
for (let i = 0; i < 9; i++) runs.push(await run());
runs.sort((a, b) => a - b);
console.log('framers CPU per request (us): median', runs[4]?.toFixed(2), 'min', runs[0]?.toFixed(2), 'max', runs[8]?.toFixed(2));
