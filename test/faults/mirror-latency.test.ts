import { createServer, type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Pool } from 'undici';
import { httpUpstream } from '../helpers/http.js';
import { waitForCounts } from '../helpers/mirror.js';
import { startSidecar } from '../helpers/sidecar.js';

/** The primary answers after this long: a p99 that timer and scheduling noise (and the CPU a resetting shadow costs a loaded machine, about 3 ms) cannot swamp. */
const PRIMARY_MS = 40;
/** Request pairs per measurement (one request to each listener, in random order). */
const PAIRS = 300;
const WORKERS = 4;

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that resets every connection as soon as a request arrives. */
async function resettingServer(t: Test): Promise<number> {
  const server = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

t.test('a slow, down or resetting shadow never delays the client: p99 within 10% of the same sidecar without mirror', async (t) => {
  const { port: primary } = await httpUpstream(t, (req, res) => {
    req.resume();
    setTimeout(() => res.end(JSON.stringify({ ok: true, path: req.url })), PRIMARY_MS);
  });
  const { port: slow } = await httpUpstream(t, (req, res) => {
    req.resume();
    const timer = setTimeout(() => res.end(JSON.stringify({ ok: true, path: req.url })), 2000);
    res.once('close', () => clearTimeout(timer));
  });
  const down = await freePort();
  const reset = await resettingServer(t);
  const shadows = { slow, down, reset };
  const listener = (name: string) => `{name: ${name}, listen: "127.0.0.1:0", upstream: "127.0.0.1:${primary}"}`;
  const mirrorRule = (name: string, port: number, probability: number) => `    - name: ${name}
      match: {listener: ${name === 'control' ? 'up' : name}, protocol: http}
      faults: [{type: mirror, upstream: "127.0.0.1:${port}", probability: ${probability}, timeout: 5s}]`;
  // The control listener takes the same L7 path (an inspected connection, a mirror fault that
  // is never drawn): the only difference between the two is the mirroring itself.
  const rules = [mirrorRule('control', slow, 0), ...Object.entries(shadows).map(([name, port]) => mirrorRule(name, port, 1))].join('\n');
  const { sidecar, port: controlPort } = await startSidecar(t, primary, rules, { extraListeners: Object.keys(shadows).map(listener) });
  const pools = new Map<string, Pool>();
  const pool = (port: number) => {
    let p = pools.get(String(port));
    if (!p) pools.set(String(port), (p = new Pool(`http://127.0.0.1:${port}`, { connections: WORKERS })));
    return p;
  };
  t.teardown(() => Promise.all([...pools.values()].map((p) => p.close())));
  const timed = async (port: number, i: number): Promise<number> => {
    const started = performance.now();
    const res = await pool(port).request({ path: `/item/${i}`, method: 'GET' });
    const body = await res.body.text();
    if (res.statusCode !== 200 || !body.includes(`/item/${i}`)) throw new Error(`unexpected answer ${res.statusCode} ${body}`);
    return performance.now() - started;
  };
  /** Paired, interleaved samples: each worker alternates between the two listeners in a random order. */
  const measure = async (port: number, pairs = PAIRS): Promise<{ control: number[]; mirrored: number[] }> => {
    const control: number[] = [];
    const mirrored: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: WORKERS }, async () => {
      for (let i = next++; i < pairs; i = next++) {
        const order = Math.random() < 0.5;
        const a = await timed(order ? controlPort : port, i);
        const b = await timed(order ? port : controlPort, i);
        control.push(order ? a : b);
        mirrored.push(order ? b : a);
      }
    }));
    return { control, mirrored };
  };

  for (const name of Object.keys(shadows)) {
    const port = sidecar.address(name).port;
    await measure(port, 50); // warm-up: pools, JIT
    // A loaded machine has bad moments for both arms alike; one of up to three measurements must be within 10%.
    let line = '';
    let ok = false;
    for (let attempt = 1; attempt <= 3 && !ok; attempt++) {
      const { control, mirrored } = await measure(port);
      const [c99, m99] = [percentile(control, 99), percentile(mirrored, 99)];
      ok = m99 <= c99 * 1.1;
      line = `shadow ${name}: p99 ${m99.toFixed(2)} ms mirrored vs ${c99.toFixed(2)} ms without (p50 ${percentile(mirrored, 50).toFixed(2)} vs ${percentile(control, 50).toFixed(2)}), attempt ${attempt}`;
      t.comment(line);
    }
    t.ok(ok, line);
    const counts = await waitForCounts(sidecar, name, PAIRS + 50, name === 'slow' ? 20_000 : 5000);
    const total = counts.match + counts.drift + counts.shadow_error + counts.skipped;
    if (name === 'slow') t.ok(counts.match > 0 && counts.skipped > 0 && counts.drift === 0, `slow shadow: matches within the timeout, the rest skipped over the concurrency cap (${JSON.stringify(counts)})`);
    else t.ok(counts.shadow_error === total && counts.match === 0, `${name} shadow: every mirrored request a shadow_error (${JSON.stringify(counts)})`);
    t.ok(total >= PAIRS + 50, `every mirrored request counted (${total})`);
  }
  t.equal((await waitForCounts(sidecar, 'control', 0)).match, 0, 'the control listener mirrored nothing');
});
