import t from 'tap';
import { PolicyError } from '../src/errors.js';
import { dial, echoServer, roundTrip } from './helpers/net.js';
import { startSidecar } from './helpers/sidecar.js';

t.test('a runtime overlay adds listeners and rules over the file policy, validated with it', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar, port, write } = await startSidecar(t, echo);
  const live = await dial(t, port);
  await sidecar.setOverlay({
    listeners: [{ name: 'runtime', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }],
    rules: [{ name: 'rt-slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 80 }] }],
  });
  t.ok((await roundTrip(live)) >= 75, 'the runtime rule reaches a live connection of a file listener');
  const other = await dial(t, sidecar.address('runtime').port);
  t.ok((await roundTrip(other)) < 40, 'the runtime listener proxies, unfaulted');

  await t.rejects(
    sidecar.setOverlay({ listeners: [], rules: [{ name: 'bad', faults: [{ type: 'latency', latency: -1 }] }] }),
    PolicyError,
    'an invalid overlay is refused',
  );
  t.equal(sidecar.overlay.rules[0]?.name, 'rt-slow', 'and the previous overlay stays');

  write(`    - name: file-rule
      match: {listener: runtime}
      faults: [{type: latency, latency: 80ms}]`);
  const reloaded = await new Promise<boolean>((resolve) => {
    const deadline = Date.now() + 2000;
    const check = () => (sidecar.policy.rules.some((r) => r.name === 'file-rule') ? resolve(true) : Date.now() > deadline ? resolve(false) : setTimeout(check, 20));
    check();
  });
  t.ok(reloaded, 'a file reload keeps the overlay and may refer to its listeners');
  t.ok(sidecar.policy.rules.some((r) => r.name === 'rt-slow'), 'the runtime rule survives the file reload');
  t.ok((await roundTrip(other)) >= 75, 'the file rule applies to the runtime listener');
});
