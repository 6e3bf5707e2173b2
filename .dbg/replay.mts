// Records a real gRPC (or h2) exchange through a TCP tap, then replays it through Http2Relay in-process: CPU per call, no network.
import { createServer, connect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { FaultEngine } from '/work/wt/l7perf/src/engine/engine.js';
import { compilePolicy } from '/work/wt/l7perf/src/policy/compile.js';
import { policyText } from '/work/wt/l7perf/test/helpers/sidecar.js';
import { Http2Relay } from '/work/wt/l7perf/src/l7/h2-relay.js';
const CALLS = 3000;
const id = (b: Buffer) => b;
const svc = { Say: { path: '/bench.Echo/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
const server = new grpc.Server();
server.addService(svc, { Say: (c: any, cb: any) => cb(null, c.request) });
const gport = await new Promise<number>((r) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (_e, p) => r(p)));
const log: { dir: 'c' | 'u'; chunk: Buffer }[] = [];
const tap = createServer((c) => {
  const u = connect(gport, '127.0.0.1');
  c.on('data', (d) => { log.push({ dir: 'c', chunk: Buffer.from(d) }); u.write(d); });
  u.on('data', (d) => { log.push({ dir: 'u', chunk: Buffer.from(d) }); c.write(d); });
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
});
await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
const C = grpc.makeGenericClientConstructor(svc, 'E');
const client = new C(`127.0.0.1:${(tap.address() as any).port}`, grpc.credentials.createInsecure()) as any;
const one = () => new Promise<void>((res) => client.Say(Buffer.alloc(64, 1), () => res()));
let n = 0;
await Promise.all(Array.from({ length: 32 }, async () => { while (n < CALLS) { n++; await one(); } }));
client.close(); server.forceShutdown(); tap.close();
console.log('recorded', log.length, 'chunks for', CALLS, 'calls; client chunks', log.filter((l) => l.dir === 'c').length);
const policy = compilePolicy(policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'], rules: `    - name: never
      match: {listener: up, grpc: {methods: ["/never.Svc/*"]}}
      faults: [{type: http_abort, status: 503}]` }), 'p.yaml');
const engine = new FaultEngine(Date.now, Math.random);
engine.setPolicy(policy);
function run(): number {
  const state = engine.open({ listener: 'up', direction: 'outbound', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 1 } });
  const ended = new AbortController();
  let counted = 0;
  const host: any = { id: 'r', engine, state, log: pino({ level: 'silent' }), signal: ended.signal, countFault: () => {}, countRequest: () => counted++, close: () => {}, reset: () => {} };
  const upstream: any = new EventEmitter();
  upstream.write = () => true; upstream.pause = () => {}; upstream.resume = () => {}; upstream.writableNeedDrain = false; upstream.end = () => {};
  const relay = new Http2Relay(host, {} as Socket, upstream as Socket);
  relay.toClient.on('data', () => {});
  const started = process.cpuUsage();
  for (const { dir, chunk } of log) {
    if (dir === 'c') relay.fromClient.write(chunk); else upstream.emit('data', chunk);
  }
  const used = process.cpuUsage(started);
  ended.abort();
  if (counted < CALLS) console.log('counted only', counted);
  return (used.user + used.system) / CALLS;
}
for (let i = 0; i < 8; i++) run();
const runs = Array.from({ length: 10 }, run).sort((a, b) => a - b);
console.log('relay CPU per call (us): median', runs[5]?.toFixed(2), 'min', runs[0]?.toFixed(2), 'max', runs[9]?.toFixed(2));
