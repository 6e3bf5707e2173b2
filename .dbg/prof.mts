// Profiles one sidecar (L7 rule matching nothing) under gRPC or HTTP/1 load: node --import tsx .dbg/prof.mts grpc|http [seconds]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect, createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
const kind = process.argv[2] ?? 'grpc';
const SECONDS = Number(process.argv[3] ?? 6);
const free = () => new Promise<number>((r) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => r(p)); }); });
const [hp, gp, lp] = [await free(), await free(), await free()];
const UP = `const http=require('node:http');const grpc=require('/work/wt/l7perf/node_modules/@grpc/grpc-js');const body=Buffer.alloc(64,'x');
http.createServer({keepAliveTimeout:60000},(q,s)=>{q.resume();q.on('end',()=>{s.setHeader('content-length',64);s.end(body)})}).listen(${hp},'127.0.0.1');
const id=(b)=>b;const sv=new grpc.Server();sv.addService({Say:{path:'/bench.Echo/Say',requestStream:false,responseStream:false,requestSerialize:id,requestDeserialize:id,responseSerialize:id,responseDeserialize:id}},{Say:(c,cb)=>cb(null,c.request)});
sv.bindAsync('127.0.0.1:${gp}',grpc.ServerCredentials.createInsecure(),()=>{});`;
const ups = spawn(process.execPath, ['-e', UP], { stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'prof-'));
const file = join(dir, 'p.yaml');
writeFileSync(file, `apiVersion: faultline.dev/v1alpha1
kind: FaultPolicy
metadata: {name: prof}
spec:
  listeners:
    - {name: l, listen: "127.0.0.1:${lp}", upstream: "127.0.0.1:${kind === 'grpc' ? gp : hp}"}
  rules:
    - {name: never, match: {listener: l, ${kind === 'grpc' ? 'grpc: {methods: ["/never.Svc/*"]}' : 'http: {paths: ["/never/*"]}'}}, faults: [{type: http_abort, status: 503}]}
`);
const profDir = join(dir, 'prof');
const sc = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '/work/wt/l7perf/bin/faultline.js', 'sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { stdio: 'inherit', env: { ...process.env, FAULTLINE_LOG_LEVEL: 'warn' } });
for (;;) { const ok = await new Promise((r) => { const s = connect(lp, '127.0.0.1', () => (s.destroy(), r(true))); s.on('error', () => r(false)); }); if (ok) break; await new Promise((r) => setTimeout(r, 100)); }
await new Promise((r) => setTimeout(r, 500));
let done = 0;
const deadline = performance.now() + SECONDS * 1000;
if (kind === 'grpc') {
  const id = (b: Buffer) => b;
  const C = grpc.makeGenericClientConstructor({ Say: { path: '/bench.Echo/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, 'E');
  const c = new C(`127.0.0.1:${lp}`, grpc.credentials.createInsecure()) as any;
  const one = () => new Promise<void>((res) => c.Say(Buffer.alloc(64, 1), () => res()));
  await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < deadline) { await one(); done++; } }));
  c.close();
} else {
  const pool = new Pool(`http://127.0.0.1:${lp}`, { connections: 8 });
  await Promise.all(Array.from({ length: 8 }, async () => { while (performance.now() < deadline) { const r = await pool.request({ path: '/bench', method: 'GET' }); await r.body.dump(); done++; } }));
  await pool.close();
}
console.log(kind, 'calls/s', done / SECONDS);
sc.kill('SIGTERM');
await new Promise((r) => sc.once('exit', r));
ups.kill('SIGKILL');
const prof = JSON.parse(readFileSync(join(profDir, readdirSync(profDir)[0] as string), 'utf8'));
const self = new Map<string, number>();
const total = prof.timeDeltas.reduce((a: number, b: number) => a + b, 0);
const byId = new Map(prof.nodes.map((n: any) => [n.id, n]));
const counts = new Map<number, number>();
prof.samples.forEach((id: number, i: number) => counts.set(id, (counts.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
for (const [id, t] of counts) { const n: any = byId.get(id); const cf = n.callFrame; const key = `${cf.functionName || '(anon)'} ${cf.url.replace(/^.*\/(node_modules\/|src\/)?/, '')}:${cf.lineNumber}`; self.set(key, (self.get(key) ?? 0) + t); }
const idle = [...self.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log('busy ms', ((total - idle) / 1000).toFixed(0), 'per call us', ((total - idle) / done / SECONDS * SECONDS).toFixed(1));
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((v / 1000).toFixed(1).padStart(8), ((v / (total - idle)) * 100).toFixed(1).padStart(5) + '%', k);
