import t from 'tap';
import { dial, echoServer, roundTrip } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { median } from '../helpers/stats.js';

t.test('100 ms of downstream latency adds 100 ms (±15 ms) to each round trip', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 100ms, stream: downstream}]`);
  const socket = await dial(t, port);
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) samples.push(await roundTrip(socket));
  const p50 = median(samples);
  t.ok(Math.abs(p50 - 100) <= 15, `median round trip ${p50.toFixed(1)} ms is 100 ± 15 ms`);
  t.ok(Math.min(...samples) >= 99, `no round trip is faster than the latency (min ${Math.min(...samples).toFixed(1)} ms)`);
});

t.test('jitter spreads the delay within latency ± jitter, without reordering', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: jittery
      match: {listener: up}
      faults: [{type: latency, latency: 50ms, jitter: 30ms, stream: upstream}]`);
  const socket = await dial(t, port);
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) samples.push(await roundTrip(socket));
  t.ok(Math.min(...samples) >= 19, `min ${Math.min(...samples).toFixed(1)} ms >= 20 ms - 1`);
  t.ok(Math.max(...samples) <= 95, `max ${Math.max(...samples).toFixed(1)} ms <= 80 ms + 15`);
  t.ok(Math.max(...samples) - Math.min(...samples) > 10, 'the delays vary');

  // Many small writes in a burst arrive in order whatever each one's jitter.
  const received: Buffer[] = [];
  const expected = Buffer.concat(Array.from({ length: 200 }, (_, i) => Buffer.from(`${i},`)));
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (Buffer.concat(received).length >= expected.length) resolve();
    });
  });
  for (let i = 0; i < 200; i++) socket.write(`${i},`);
  await done;
  t.equal(Buffer.concat(received).toString(), expected.toString(), 'bytes arrive in order');
});
