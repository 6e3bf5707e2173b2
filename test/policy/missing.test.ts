import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { ConfigMapVolume } from '../helpers/kubelet.js';
import { dial, echoServer, roundTrip, waitFor } from '../helpers/net.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

const sidecarFor = (t: Test, file: string, allowMissingPolicy = true) => {
  const sidecar = new Sidecar({ policyFile: file, allowMissingPolicy, pollIntervalMs: 30, log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  t.teardown(() => sidecar.drain(100));
  return sidecar;
};

t.test('--allow-missing-policy: no file means no fault; the ConfigMap appears, applies, and its removal ends its faults', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const volume = new ConfigMapVolume(dir);
  const sidecar = sidecarFor(t, volume.file);
  await sidecar.start();
  t.equal(sidecar.ready, true, 'ready at once: the pod does not wait for its ConfigMap');
  t.equal(sidecar.policyMissing, true);
  t.equal(sidecar.policy.rules.length, 0, 'an empty policy');

  // The kubelet delivers the ConfigMap once it exists.
  volume.write(policyText({
    listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`],
    rules: '    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 60ms}]}',
  }));
  t.ok(await waitFor(() => sidecar.policy.rules.length === 1), 'applied when it appears');
  t.equal(sidecar.policyMissing, false);
  const live = await dial(t, sidecar.address('up').port);
  t.ok((await roundTrip(live)) >= 55, 'its fault applies');

  // ConfigMap deleted: the kubelet empties an optional volume.
  rmSync(volume.file);
  t.ok(await waitFor(() => sidecar.policyMissing), 'the removal is seen');
  t.equal(sidecar.policy.rules.length, 0, 'its faults go');
  t.equal(sidecar.lastError, undefined, 'a removal is no error');
});

t.test('--allow-missing-policy: an invalid file at start is reported, not fatal; fixed later, it applies', async (t) => {
  const file = join(tempDir(t), 'policy.yaml');
  writeFileSync(file, 'spec: [');
  const sidecar = sidecarFor(t, file);
  await sidecar.start();
  t.equal(sidecar.ready, true);
  t.match(sidecar.lastError, { message: /YAML/ }, 'the error is kept for GET /policy and /status');
  writeFileSync(file, policyText({ rules: '    - {name: r, faults: [{type: refuse}]}' }));
  t.ok(await waitFor(() => sidecar.policy.rules.length === 1), 'the fixed file applies');
  t.equal(sidecar.lastError, undefined);
});

t.test('without the flag: a missing file is a PolicyFileError at start, and a file gone later keeps the last policy', async (t) => {
  const dir = tempDir(t);
  await t.rejects(sidecarFor(t, join(dir, 'nope.yaml'), false).start(), { code: 'FL_ERR_POLICY_FILE', message: /--policy .*nope\.yaml: no such file \(--allow-missing-policy/ });
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText({ rules: '    - {name: r, faults: [{type: refuse}]}' }));
  const sidecar = sidecarFor(t, file, false);
  await sidecar.start();
  rmSync(file);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(sidecar.policy.rules.length, 1, 'the last good policy stays');
});
