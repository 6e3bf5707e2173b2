import t from 'tap';
import { collect, dial, echoServer, roundTrip, sleep, tcpServer } from '../helpers/net.js';
import { policyText, startSidecar } from '../helpers/sidecar.js';

// A fault whose stage acts only on bytes (latency, bandwidth, slicer, loss, blackhole,
// slow_close) reaches an idle connection as an armed link: no stage until its next bytes.

const latency = (ms: number, stream = 'both') => `    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: ${ms}ms, stream: ${stream}}]}`;

t.test('a latency fault added to an idle connection: no stage until bytes come, then each one delayed', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar, port } = await startSidecar(t, echo);
  const socket = await dial(t, port);
  t.ok((await roundTrip(socket)) < 40, 'plain before the fault');
  const conn = [...sidecar.connections][0];
  t.ok(conn);
  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`];
  t.ok(await sidecar.reload(policyText({ listeners, rules: latency(60) })));
  t.equal(conn?.stageDepth(), 0, 'idle: armed, no stage made');
  t.ok(conn?.faults().some((f) => f.rule === 'slow' && f.active), 'the fault counts as applying at once');
  const delayed = await roundTrip(socket);
  t.ok(delayed >= 115, `the first bytes after it are delayed both ways (${delayed.toFixed(1)} ms >= 120 ms - 5)`);
  t.equal(conn?.stageDepth(), 2, 'a stage each way once bytes came');
  t.ok(await sidecar.reload(policyText({ listeners })));
  t.ok((await roundTrip(socket)) < 40, 'removed again: plain');
});

t.test('a fault removed while armed: the connection is a plain pipe again, nothing lost', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar, port } = await startSidecar(t, echo);
  const socket = await dial(t, port);
  await roundTrip(socket);
  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`];
  for (let i = 0; i < 10; i++) {
    t.ok(await sidecar.reload(policyText({ listeners, rules: i % 2 === 0 ? latency(200) : undefined })));
  }
  t.equal([...sidecar.connections][0]?.stageDepth(), 0);
  const rtt = await roundTrip(socket, 4096);
  t.ok(rtt < 100, `after ten toggles with no bytes in between, the last (no fault) holds: ${rtt.toFixed(1)} ms`);
});

t.test('the first bytes of a connection that opens under the fault are delayed, none lost (upstream only)', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, latency(50, 'upstream'));
  const socket = await dial(t, port);
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) samples.push(await roundTrip(socket));
  t.ok(Math.min(...samples) >= 45, `each round trip carries the upstream delay (min ${Math.min(...samples).toFixed(1)} ms)`);
  t.ok(Math.max(...samples) < 500, 'the first bytes were not held back until later ones came');
});

for (const words of ['last words', '']) {
  t.test(`a close while armed passes on${words ? ', after the bytes sent with it' : ', with no bytes before it'}`, async (t) => {
    let received = '';
    const { port: upstream } = await tcpServer(
      t,
      (socket) => {
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('end', () => socket.end('bye'));
      },
      { allowHalfOpen: true },
    );
    const { sidecar, port } = await startSidecar(t, upstream);
    const socket = await dial(t, port);
    const outcome = collect(socket);
    await sleep(50);
    const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`];
    t.ok(await sidecar.reload(policyText({ listeners, rules: latency(30) })));
    socket.end(words);
    const result = await outcome;
    t.equal(received, words, 'the upstream got what was sent');
    t.equal(result.data.toString(), 'bye', 'and the end: it answered and closed');
  });
}
