import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { hasSidecar, podState } from '../../src/fleet/pods.js';

const pod = (spec: Partial<V1Pod['spec']>, status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, spec: { containers: [{ name: 'app' }], ...spec }, status });
const running = (ready: boolean, where: 'containerStatuses' | 'initContainerStatuses' = 'containerStatuses') => ({ phase: 'Running', podIP: '10.0.0.1', [where]: [{ name: 'faultline', ready, restartCount: 0, image: '', imageID: '' }] });

t.test('which pods are contacted, and why the others are not', async (t) => {
  const regular = { containers: [{ name: 'app' }, { name: 'faultline' }] };
  const native = { initContainers: [{ name: 'faultline', restartPolicy: 'Always' }] };
  t.ok(hasSidecar(pod(regular, {})));
  t.ok(hasSidecar(pod(native, {})), 'a native sidecar');
  t.notOk(hasSidecar(pod({ initContainers: [{ name: 'faultline' }] }, {})), 'an init container that ends is not a sidecar');
  t.same(podState(pod(regular, running(true))), { contact: true });
  t.same(podState(pod(native, running(true, 'initContainerStatuses'))), { contact: true });
  t.match(podState(pod({}, running(true))), { contact: false, result: 'skipped', reason: 'no faultline sidecar' });
  t.match(podState(pod(regular, { phase: 'Pending' })), { contact: false, result: 'failed', reason: 'not running (Pending); not contacted' });
  t.match(podState(pod(regular, { phase: 'Running' })), { result: 'failed', reason: /no pod IP yet/ });
  t.match(podState(pod(regular, running(false))), { result: 'failed', reason: /faultline container is not ready/ });
  t.match(podState(pod(regular, undefined)), { reason: 'not running (Unknown); not contacted' });
});
