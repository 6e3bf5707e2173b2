import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { sleep } from '../helpers/net.js';
import { policyText } from '../helpers/sidecar.js';
import { numberedRun, udpEcho, withinBinomial } from '../helpers/udp.js';

const N = 10_000;

/** An in-process sidecar with one `protocol: udp` listener `udp` in front of a UDP echo server. */
async function udpSidecar(t: Test, rules?: string, listenerExtra = '') {
  const echo = await udpEcho(t);
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  const listeners = [`{name: udp, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: udp${listenerExtra}}`];
  const set = async (r?: string) => t.ok(await sidecar.reload(policyText({ listeners, rules: r })), `policy applied ${sidecar.lastError?.message ?? ''}`);
  await set(rules);
  t.teardown(() => sidecar.drain(0));
  const count = async (fate: string, stream: string) => {
    const text = await sidecar.metrics.registry.getSingleMetricAsString('faultline_datagrams_total');
    return Number(new RegExp(`^faultline_datagrams_total\\{listener="udp",stream="${stream}",fate="${fate}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  return { sidecar, echo, port: sidecar.address('udp').port, set, count };
}

t.test('no fault: every datagram relayed both ways, one flow per client address', async (t) => {
  const { port, echo, count, sidecar } = await udpSidecar(t);
  const run = await numberedRun(t, port, 2000);
  t.equal(run.seqs.length, 2000, 'every datagram came back');
  t.equal(run.reordered + run.duplicates, 0, 'in order, once each');
  t.equal(echo.received(), 2000);
  t.equal(await count('relayed', 'upstream'), 2000);
  t.equal(await count('relayed', 'downstream'), 2000);
  const { flowsView } = await import('../../src/admin/datagram-views.js');
  t.match(flowsView(sidecar), { total: 1, flows: [{ listener: 'udp', client: /^127\.0\.0\.1:\d+$/, datagramsUpstream: 2000, datagramsDownstream: 2000, bytesUpstream: 64000, faults: [] }] }, 'GET /flows');
});

t.test('loss over 10,000 datagrams: the ratio within its binomial interval, each loss counted', async (t) => {
  const { port, echo, count } = await udpSidecar(t, `    - name: lossy
      match: {listener: udp}
      faults: [{type: loss, probability: 0.2, stream: upstream}]`);
  const run = await numberedRun(t, port, N);
  const delivered = echo.received();
  t.ok(withinBinomial(delivered, N, 0.8), `${delivered} of ${N} delivered (p = 0.8; 99.999% interval ${Math.round(8000 - 4.5 * 40)}-${Math.round(8000 + 4.5 * 40)})`);
  t.equal(await count('lost', 'upstream'), N - delivered, 'every lost datagram counted');
  t.equal(run.seqs.length, delivered, 'the replies all came back (loss was upstream only)');
});

t.test('duplicate and reorder over 10,000 datagrams: counted by the client and by the metrics', async (t) => {
  const { port, count, set } = await udpSidecar(t, `    - name: dup
      match: {listener: udp}
      faults: [{type: duplicate, probability: 0.1}]`);
  const dup = await numberedRun(t, port, N);
  t.ok(withinBinomial(dup.duplicates, N, 0.1), `${dup.duplicates} duplicates of ${N} (p = 0.1)`);
  t.equal(await count('duplicated', 'downstream'), dup.duplicates, 'each duplicate counted (downstream, the default stream)');
  t.equal(dup.seqs.length, N + dup.duplicates, 'nothing lost');
  await set(`    - name: shuffle
      match: {listener: udp}
      faults: [{type: reorder, probability: 0.05, delay: 5ms, stream: upstream}]`);
  const shuffled = await numberedRun(t, port, N);
  const held = await count('reordered', 'upstream');
  t.ok(withinBinomial(held, N, 0.05), `${held} of ${N} held back (p = 0.05)`);
  t.equal(shuffled.seqs.length, N, 'none lost');
  // Each held datagram arrives after the ones sent within 5 ms behind it: one order change each.
  t.ok(shuffled.reordered >= held * 0.9 && shuffled.reordered <= held, `${shuffled.reordered} arrivals out of order for ${held} held back`);
});

t.test('latency per datagram; jitter wider than the spacing reorders, as netem does', async (t) => {
  const { port, set } = await udpSidecar(t, `    - name: slow
      match: {listener: udp}
      faults: [{type: latency, latency: 40ms}]`);
  const slow = await numberedRun(t, port, 200, { burst: 5 });
  const sorted = [...slow.rtts].sort((a, b) => a - b);
  t.ok((sorted[0] as number) >= 39, `no reply before 40 ms (fastest ${sorted[0]?.toFixed(1)} ms)`);
  t.ok((sorted[100] as number) < 60, `median ${sorted[100]?.toFixed(1)} ms`);
  t.equal(slow.reordered, 0, 'no jitter: order kept');
  await set(`    - name: jittery
      match: {listener: udp}
      faults: [{type: latency, latency: 30ms, jitter: 20ms}]`);
  const jittery = await numberedRun(t, port, 1000, { burst: 10 });
  t.equal(jittery.seqs.length, 1000, 'none lost');
  t.ok(jittery.reordered > 50, `datagrams 1 ms apart with ±20 ms jitter overtake each other (${jittery.reordered} order changes)`);
});

t.test('bandwidth paces datagrams and drops (and counts) what overflows its queue; blackhole passes nothing', async (t) => {
  const { port, count, set } = await udpSidecar(t, `    - name: thin
      match: {listener: udp}
      faults: [{type: bandwidth, rate: 100KiB/s, stream: upstream}]`);
  const started = performance.now();
  const paced = await numberedRun(t, port, 80, { size: 1024, burst: 10, quietMs: 200 });
  const seconds = (performance.now() - started - 200) / 1000;
  const rate = (paced.seqs.length * 1024) / seconds / 1024;
  t.equal(paced.seqs.length, 80, '80 KiB fit the queue (one second of the rate)');
  t.ok(rate > 80 && rate < 115, `delivered at ${rate.toFixed(0)} KiB/s for 100 KiB/s`);
  t.equal(await count('overflow', 'upstream'), 0, 'nothing dropped');
  const flood = await numberedRun(t, port, 2000, { size: 1024, burst: 20, quietMs: 300, maxMs: 5000 });
  const overflow = await count('overflow', 'upstream');
  t.ok(overflow > 1000, `a flood (2 MiB in 0.1 s) overflows the bounded queue: ${overflow} dropped and counted`);
  t.ok(flood.seqs.length + overflow <= 2000 && flood.seqs.length >= 100 && flood.seqs.length < 300, `${flood.seqs.length} of the flood delivered in its time`);
  await set(`    - name: void
      match: {listener: udp}
      faults: [{type: blackhole}]`);
  const none = await numberedRun(t, port, 100, { quietMs: 200 });
  t.equal(none.seqs.length, 0, 'blackhole: nothing comes back');
  t.equal(await count('blackholed', 'upstream') + (await count('blackholed', 'downstream')), 100, 'each counted');
});

t.test('live flows: a fault added applies at once, removed hands on what it held; idle flows go', async (t) => {
  const { port, sidecar, set } = await udpSidecar(t, undefined, ', idleTimeout: 300ms');
  const { flowsView } = await import('../../src/admin/datagram-views.js');
  const first = await numberedRun(t, port, 10, { quietMs: 100 });
  t.equal(first.seqs.length, 10);
  await set(`    - name: slow
      match: {listener: udp}
      faults: [{type: latency, latency: 2s}]`);
  const socket = first.socket;
  const arrivals: number[] = [];
  socket.on('message', () => arrivals.push(performance.now()));
  const sent = performance.now();
  for (let seq = 0; seq < 5; seq++) socket.send(Buffer.alloc(8, seq), port, '127.0.0.1');
  await sleep(100);
  t.equal(arrivals.length, 0, 'the live flow is delayed now');
  t.match(flowsView(sidecar), { flows: [{ faults: [{ rule: 'slow', fault: 'latency' }] }] });
  await set(undefined);
  await sleep(100);
  t.equal(arrivals.length, 5, 'removing the fault released the held datagrams');
  t.ok((arrivals[4] as number) - sent < 1000, 'at once, not after 2 s');
  await sleep(700);
  t.equal((flowsView(sidecar) as { total: number }).total, 0, 'an idle flow is closed after idleTimeout');
});
