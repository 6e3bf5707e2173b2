import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import t from 'tap';
import { policyText, startSidecar, tempDir } from '../helpers/sidecar.js';

const CONNECTIONS = Number(process.env.FAULTLINE_RELOAD_CONNECTIONS ?? 9000);

// The clients and their upstream run in a child process: this one holds only the sidecar (two
// fds a connection), so that its event loop's delay is the sidecar's.
const PEERS = `
import { createServer, connect } from 'node:net';
const held = [];
const upstream = createServer((s) => { held.push(s); s.on('error', () => {}); });
upstream.listen(0, '127.0.0.1', () => process.send({ upstream: upstream.address().port }));
process.on('message', async ({ port, count }) => {
  let open = 0;
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { open++; resolve(); });
      s.on('error', resolve);
      held.push(s);
    })));
  }
  process.send({ open });
});
`;

t.test(`reloads with ${CONNECTIONS} live connections re-plan them in slices, not in one stall`, async (t) => {
  const dir = tempDir(t);
  const script = join(dir, 'peers.mjs');
  writeFileSync(script, PEERS);
  const peers = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => void peers.kill('SIGKILL'));
  const next = () => new Promise<Record<string, number>>((resolve) => peers.once('message', (m) => resolve(m as Record<string, number>)));
  const { upstream } = await next();
  const { sidecar, port } = await startSidecar(t, upstream as number);
  peers.send({ port, count: CONNECTIONS });
  const { open } = await next();
  t.equal(open, CONNECTIONS, `${CONNECTIONS} connections open`);
  while (sidecar.connections.size < CONNECTIONS) await new Promise((resolve) => setTimeout(resolve, 50));

  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`];
  /** Reloads `rules`, measuring the event loop's delay meanwhile (and 100 ms after). */
  const reload = async (rules: string) => {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const gcPauses: number[] = [];
    const gc = new PerformanceObserver((list) => gcPauses.push(...list.getEntries().map((e) => e.duration)));
    gc.observe({ entryTypes: ['gc'] });
    delay.enable();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    const applied = await sidecar.reload(policyText({ listeners, rules }));
    const ms = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
    delay.disable();
    gc.disconnect();
    const maxMs = delay.max / 1e6;
    t.comment(`applied in ${ms.toFixed(0)} ms; event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; ${gcPauses.length} garbage collections, longest ${Math.max(0, ...gcPauses).toFixed(1)} ms`);
    return { applied, maxMs };
  };
  const faulted = (rule: string) => [...sidecar.connections].filter((c) => c.faults().some((f) => f.rule === rule)).length;

  // A rule for other traffic: every live connection is re-planned, none changes.
  const other = await reload('    - {name: other, match: {ports: [9]}, faults: [{type: latency, latency: 5ms}]}');
  t.ok(other.applied);
  t.ok(other.maxMs < 20, `a rule change re-planning ${CONNECTIONS} connections: no connection waited 20 ms or more (max ${other.maxMs.toFixed(1)} ms)`);

  // A rule for all of them: each gets a fault stage. What those allocations cost the garbage
  // collector (young-generation scavenges of 10-25 ms) is the rest of the delay.
  const slow = await reload('    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 5ms}]}');
  t.ok(slow.applied);
  t.equal(faulted('slow'), CONNECTIONS, 'the new rule reached every live connection');
  t.ok(slow.maxMs < 100, `a fault added to ${CONNECTIONS} live connections: max delay ${slow.maxMs.toFixed(1)} ms (one pass held them all ~600 ms)`);
});
