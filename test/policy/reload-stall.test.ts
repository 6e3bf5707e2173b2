import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { policyText, startSidecar, tempDir } from '../helpers/sidecar.js';

/** PerformanceEntry gc kinds (perf_hooks constants). */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak' };

// A full collection before each measured reload: the young generation that 9,000 connections
// just left behind is then not collected (10-25 ms) in the middle of the reload it has nothing to do with.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const CONNECTIONS = Number(process.env.FAULTLINE_RELOAD_CONNECTIONS ?? 9000);

// The clients and their upstream run in a child process: this one holds only the sidecar (two
// fds a connection), so that its event loop's delay is the sidecar's.
const PEERS = `
import { createServer, connect } from 'node:net';
const held = [];
let upstreamAccepted = 0;
const upstream = createServer((s) => { upstreamAccepted++; held.push(s); s.on('error', () => {}); });
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
  // Every relayed connection set up on the sidecar's side too (its upstream dialled and
  // connected): what is measured next is the reload, not the tail of the setup.
  for (let waited = 0; upstreamAccepted < open && waited < 30000; waited += 20) await new Promise((r) => setTimeout(r, 20));
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
    const gcPauses: { ms: number; kind: number }[] = [];
    const gc = new PerformanceObserver((list) => gcPauses.push(...list.getEntries().map((e) => ({ ms: e.duration, kind: (e as unknown as { detail: { kind: number } }).detail.kind }))));
    collect();
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
    t.comment(`applied in ${ms.toFixed(0)} ms; event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; ${gcPauses.length} garbage collections, longest ${Math.max(0, ...gcPauses.map((g) => g.ms)).toFixed(1)} ms (${gcPauses.map((g) => `${GC_KINDS[g.kind] ?? g.kind} ${g.ms.toFixed(0)}`).join(', ')})`);
    return { applied, maxMs };
  };
  const faulted = (rule: string) => [...sidecar.connections].filter((c) => c.faults().some((f) => f.rule === rule)).length;

  // The validation code warmed up first, as in a sidecar that has run for a while (cold, a small
  // policy's validation takes 10-15 ms of one turn; warm, 2-3 ms).
  for (let i = 0; i < 5; i++) await sidecar.reload(policyText({ listeners, rules: `    - {name: warm, match: {ports: [${10 + i}]}, faults: [{type: latency, latency: 5ms}]}` }));

  // A rule for other traffic: every live connection is re-planned, none changes.
  const other = await reload('    - {name: other, match: {ports: [9]}, faults: [{type: latency, latency: 5ms}]}');
  t.ok(other.applied);
  t.ok(other.maxMs < 20, `a rule change re-planning ${CONNECTIONS} connections: no connection waited 20 ms or more (max ${other.maxMs.toFixed(1)} ms)`);

  // A rule for all of them. Idle connections get no stage until their next bytes (a latency
  // stage acts only on bytes), only the fault's bookkeeping; what that costs the garbage
  // collector (a few young-generation scavenges of 10-20 ms on this heap) is most of the delay.
  const slow = await reload('    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 5ms}]}');
  t.ok(slow.applied);
  t.equal(faulted('slow'), CONNECTIONS, 'the new rule reached every live connection');
  t.ok(slow.maxMs < 50, `a fault added to ${CONNECTIONS} live connections: max delay ${slow.maxMs.toFixed(1)} ms (one pass held them all ~600 ms)`);
  t.equal(
    [...sidecar.connections].filter((c) => c.stageDepth() > 0).length,
    0,
    'no idle connection holds a stage: each is armed for its next bytes',
  );
});
