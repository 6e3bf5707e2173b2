/**
 * What a new connection (or a 64-byte echo round trip) costs the proxy, counted in instructions
 * rather than timed, so that a busy machine does not change the figure: each proxy runs under
 * valgrind's callgrind with collection off, is warmed up (JIT), then counts the instructions of N
 * connections (an HTTP/1.1 request with `Connection: close` each, 4 at a time) or N round trips on
 * one connection, and of the same time idle (timers, the policy watch), which is subtracted. The
 * sidecar runs compiled (`npm run build`, dist/), as the image runs it; then the minimal Node pipe.
 *
 *   node --import tsx bench/instructions.ts [--echo] [--count 1000] [--warm 2000] [--rounds 2]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, MINIMAL_PIPE, waitConnectable } from './paths.js';
import { processes } from './processes.js';
import { imageEnv } from './runtime.js';

const { values } = parseArgs({ options: { echo: { type: 'boolean' }, count: { type: 'string', default: '1000' }, warm: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '2' } } });
const ECHO = values.echo === true;
const UNIT = ECHO ? 'echo round trip' : 'connection';
const COUNT = Number(values.count);
const WARM = Number(values.warm);
const ROUNDS = Number(values.rounds);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ORIGIN = ECHO
  ? `const s=require('net').createServer({noDelay:true},(c)=>{c.on('error',()=>{});c.pipe(c)});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`
  : `const b=Buffer.from('hello from the bench origin\\n');const s=require('http').createServer((q,r)=>r.writeHead(200,{'content-type':'text/plain','content-length':b.length}).end(b));s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`;
const origin = processes.spawn(process.execPath, ['-e', ORIGIN]);
const upstream = await new Promise<number>((r) => origin.stdout?.once('data', (d: Buffer) => r(Number(String(d).trim()))));
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });

const request = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
const one = (port: number) =>
  new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
const echoes = async (port: number, n: number) => {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const message = Buffer.alloc(64, 1);
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.length;
        if (got < message.length) return;
        socket.off('data', onData);
        resolve();
      };
      socket.on('data', onData);
      socket.write(message);
    });
  }
  socket.destroy();
};
const load = async (port: number, n: number) => {
  if (ECHO) return echoes(port, n);
  let i = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (i++ < n) await one(port);
  }));
};

/** Instructions (in thousands) per connection (or round trip), and per one of idle time. */
async function measure(kind: 'sidecar' | 'node-pipe'): Promise<{ perConnection: number; idle: number }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-callgrind-'));
  const valgrind = ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${dir}/out.%p`];
  let args: string[];
  if (kind === 'node-pipe') args = [...valgrind, process.execPath, '-e', MINIMAL_PIPE, JSON.stringify([[port, upstream]])];
  else {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bench}\nspec:\n  listeners:\n    - {name: http, listen: "127.0.0.1:${port}", upstream: "127.0.0.1:${upstream}"}\n  rules: []\n`);
    args = [...valgrind, process.execPath, join(ROOT, 'dist/cli/main.js'), 'sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  }
  const child = processes.spawn('valgrind', args, { stdio: 'ignore', env: { ...imageEnv(), FAULTLINE_LOG_LEVEL: 'error' } });
  try {
    if (!(await waitConnectable(port, 180_000))) throw new Error(`${kind} did not start under valgrind`);
    await load(port, WARM);
    await sleep(1000);
    const control = (on: boolean) => execFileSync('callgrind_control', ['-i', on ? 'on' : 'off', String(child.pid)], { stdio: 'ignore' });
    const dump = () => execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
    control(true);
    const started = performance.now();
    await load(port, COUNT);
    const loadMs = performance.now() - started;
    control(false);
    dump();
    const busy = total(dir);
    control(true);
    await sleep(loadMs);
    control(false);
    dump();
    const idle = total(dir) - busy;
    return { perConnection: (busy - idle) / COUNT / 1000, idle: idle / COUNT / 1000 };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Instructions counted so far in every dump of the directory. */
function total(dir: string): number {
  let sum = 0;
  for (const f of readdirSync(dir).filter((name) => name.startsWith('out.'))) {
    try {
      const text = execFileSync('callgrind_annotate', [join(dir, f)], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] });
      sum += Number(/([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(text)?.[1]?.replace(/,/g, '') ?? 0);
    } catch {
      // an empty dump (nothing collected): 0
    }
  }
  return sum;
}

const results: Record<string, number[]> = { sidecar: [], 'node-pipe': [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const kind of round % 2 === 0 ? (['sidecar', 'node-pipe'] as const) : (['node-pipe', 'sidecar'] as const)) {
    const r = await measure(kind);
    results[kind]?.push(r.perConnection);
    console.log(`${kind.padEnd(9)} ${r.perConnection.toFixed(0)}k instructions per ${UNIT} (idle for as long: ${r.idle.toFixed(1)}k per ${UNIT}, subtracted)`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const [s, p] = [mean(results.sidecar ?? []), mean(results['node-pipe'] ?? [])];
console.log(`sidecar / node-pipe: ${(s / p).toFixed(3)} (${s.toFixed(0)}k / ${p.toFixed(0)}k, mean of ${ROUNDS} each)`);
processes.stopAll();
process.exit(0);
