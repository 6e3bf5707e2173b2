import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { ConfigMapVolume } from '../helpers/kubelet.js';
import { dial, echoServer, roundTrip, sleep, waitFor } from '../helpers/net.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

async function sidecarOn(t: Test, file: string): Promise<Sidecar> {
  const sidecar = new Sidecar({ policyFile: file, pollIntervalMs: 250, log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  t.teardown(() => sidecar.drain(200));
  return sidecar;
}

t.test('a ConfigMap update (kubelet symlink swap) reaches a live connection within a second', async (t) => {
  const { port: echo } = await echoServer(t);
  const volume = new ConfigMapVolume(tempDir(t));
  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`];
  volume.write(policyText({ listeners }));
  const sidecar = await sidecarOn(t, volume.file);
  const socket = await dial(t, sidecar.address('up').port);
  t.ok((await roundTrip(socket)) < 40, 'no fault at first');

  const swappedAt = performance.now();
  volume.write(policyText({ listeners, rules: '    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 200ms}]}' }));
  let effectMs = Infinity;
  for (let i = 0; i < 30; i++) {
    const rtt = await roundTrip(socket);
    if (rtt >= 190) {
      effectMs = performance.now() - swappedAt - rtt;
      break;
    }
    await sleep(20);
  }
  t.ok(effectMs < 1000, `the fault applied ${effectMs.toFixed(0)} ms after the swap`);
  t.equal(sidecar.policy.rules[0]?.name, 'slow');

  volume.write(policyText({ listeners }));
  t.ok(await waitFor(() => sidecar.policy.rules.length === 0, 1500), 'and the next swap removes it');
  t.ok((await roundTrip(socket)) < 40, 'from the same live connection');
});

t.test('an invalid policy is refused: the last good one stays and the process lives', async (t) => {
  const { port: echo } = await echoServer(t);
  const volume = new ConfigMapVolume(tempDir(t));
  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`];
  const good = policyText({ listeners, rules: '    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 100ms}]}' });
  volume.write(good);
  const sidecar = await sidecarOn(t, volume.file);
  const socket = await dial(t, sidecar.address('up').port);
  const hash = sidecar.policy.hash;

  volume.write(good.replace('latency: 100ms', 'latency: -100ms'));
  t.ok(await waitFor(() => sidecar.lastError !== undefined, 1500), 'the reload failed');
  t.match(sidecar.lastError?.message, /policy\.yaml:\d+:\d+: spec\.rules\[0\]\.faults\[0\]\.latency: duration must not be negative/);
  t.equal(sidecar.policy.hash, hash, 'the good policy stays');
  t.ok((await roundTrip(socket)) >= 95, 'and still applies to the live connection');
  t.equal((await sidecar.metrics.policyReloads.get()).values.find((v) => v.labels.result === 'error')?.value, 1, 'the failure is counted');

  volume.write('this: is: not yaml: [');
  await sleep(600);
  t.equal(sidecar.policy.hash, hash, 'broken YAML is refused too');
  volume.write(good.replace('100ms', '50ms'));
  t.ok(await waitFor(() => sidecar.policy.hash !== hash, 1500), 'a good policy after bad ones applies');
  t.equal(sidecar.lastError, undefined, 'and clears the error');
});

t.test('a listener port already in use: refused at reload with the field and line, old listeners stay', async (t) => {
  const { port: echo } = await echoServer(t);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void blocker.close());
  const busy = (blocker.address() as { port: number }).port;
  const dir = tempDir(t);
  const file = `${dir}/policy.yaml`;
  const up = `{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`;
  writeFileSync(file, policyText({ listeners: [up] }));
  const sidecar = await sidecarOn(t, file);
  const ok = await sidecar.reload(policyText({ listeners: [up, `{name: clash, listen: "127.0.0.1:${busy}", upstream: "127.0.0.1:${echo}"}`] }), file);
  t.equal(ok, false, 'refused');
  t.match(sidecar.lastError?.message, new RegExp(`policy\\.yaml:7:\\d+: spec\\.listeners\\[1\\]\\.listen: cannot listen on 127\\.0\\.0\\.1:${busy}: EADDRINUSE`));
  const socket = await dial(t, sidecar.address('up').port);
  t.ok((await roundTrip(socket)) < 40, 'the existing listener still works');
});

t.test('a listener added by a reload is bound; one removed stops accepting', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const file = `${dir}/policy.yaml`;
  const up = `{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`;
  const extra = `{name: extra, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`;
  writeFileSync(file, policyText({ listeners: [up] }));
  const sidecar = await sidecarOn(t, file);
  const live = await dial(t, sidecar.address('up').port);
  t.ok(await sidecar.reload(policyText({ listeners: [extra] }), file));
  const socket = await dial(t, sidecar.address('extra').port);
  t.ok((await roundTrip(socket)) < 40, 'the new listener proxies');
  t.ok((await roundTrip(live)) < 40, 'a live connection of the removed listener carries on');
  t.throws(() => sidecar.address('up'), 'the removed listener is gone');
});
