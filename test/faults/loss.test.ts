import t from 'tap';
import { dial, echoServer, roundTrip } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

t.test('loss stalls about `probability` of chunks by the retransmission delay, losing no byte', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: lossy
      match: {listener: up}
      faults: [{type: loss, probability: 0.3, retransmitDelay: 50ms}]`);
  const socket = await dial(t, port);
  const samples: number[] = [];
  for (let i = 0; i < 60; i++) samples.push(await roundTrip(socket, 32));
  const stalled = samples.filter((ms) => ms >= 45).length;
  // 60 trials at p=0.3: 99.9% of runs see between 6 and 30 stalls.
  t.ok(stalled >= 6 && stalled <= 30, `${stalled} of 60 round trips stalled`);
  t.ok(samples.every((ms) => ms < 50 + 40), 'a stall lasts about the retransmission delay');
});
