import t from 'tap';
import { request } from 'undici';
import { RESOURCE } from '../../src/faultpolicy/resource.js';
import { createFaultPolicy, faultPolicyApi, until } from '../helpers/faultpolicy.js';
import { listenerPort, startDaemon } from '../helpers/process.js';

// No pod here has an address: the controller contacts nothing but the API server.
t.test('faultline controller: writes the status of FaultPolicy objects, health on its port, stops on SIGTERM', async (t) => {
  const api = await faultPolicyApi(t);
  createFaultPolicy(api, 'shop', 'bad', { rules: [{ name: 'r', faults: [{ type: 'latency', latency: 'soon' }] }] });
  createFaultPolicy(api, 'shop', 'nobody', { selector: { matchLabels: { app: 'none' } }, rules: [{ name: 'r', faults: [{ type: 'refuse' }] }] });
  const daemon = startDaemon(t, ['controller', '--kubeconfig', api.kubeconfig, '--health', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' });
  const health = await listenerPort(daemon, 'health');
  t.equal((await request(`http://127.0.0.1:${health}/healthz`)).statusCode, 200);
  const status = (name: string) => (api.store.get(RESOURCE, 'shop', name) as { status?: any }).status;
  await until(() => status('bad') !== undefined && status('nobody') !== undefined, 30_000, 'both statuses');
  t.match(status('bad'), { observedGeneration: 1, selectedPods: 0, conditions: [{ type: 'Valid', status: 'False', message: /latency: invalid duration "soon"/ }] });
  t.match(status('nobody'), { observedGeneration: 1, selectedPods: 0, appliedPods: 0, pods: [], conditions: [{ type: 'Valid', status: 'True' }, { type: 'Applied', status: 'True', reason: 'AllApplied' }] });
  const patches = api.requests.filter((r) => r.method === 'PATCH');
  t.ok(patches.every((r) => r.path.endsWith('/status') && r.contentType === 'application/merge-patch+json'), 'merge patches of the status subresource only');
  await new Promise((r) => setTimeout(r, 5500));
  t.equal(api.requests.filter((r) => r.method === 'PATCH').length, patches.length, 'nothing changed, nothing written (a resync later)');
  daemon.child.kill('SIGTERM');
  t.equal(await daemon.exited, 0);
});
