import t from 'tap';
import { startFleet } from '../helpers/fleet.js';
import { cli } from '../helpers/cli.js';

t.test('RBAC and API failures: refused before any sidecar is contacted, one clear line, nothing changed', async (t) => {
  const fleet = await startFleet(t, 2);
  const states = async () => Promise.all(fleet.sidecars.map((s) => fleet.killSwitch(s)));
  const proxyCalls = () => fleet.api.requests.filter((r) => r.path.includes('/proxy/')).length;

  const viewer = fleet.userWith('view');
  const denied = await cli(['killswitch', 'on', '-l', 'app=shop', '--kubeconfig', viewer]);
  t.equal(denied.code, 1);
  t.equal(denied.stderr, 'faultline: forbidden: secrets "faultline-admin-killswitch" is forbidden: User "view-user" cannot get resource "secrets" in API group "" in the namespace "shop"\n', 'faultline-view: 403 naming the Secret and the verb');
  t.same(await states(), [false, false], 'no pod changed');
  t.equal(proxyCalls(), 0, 'no pod contacted');
  const status = await cli(['status', '--kubeconfig', viewer]);
  t.equal(status.code, 0, 'the same user can read the status');

  const operator = fleet.userWith('killswitch');
  t.equal((await cli(['killswitch', 'on', '--kubeconfig', operator])).code, 0, 'faultline-killswitch may');
  t.same(await states(), [true, true]);
  const noRules = await cli(['rules', 'delete', 'x', '--kubeconfig', operator]);
  t.match(noRules.stderr, /secrets "faultline-admin-rules" is forbidden: User "killswitch-user" cannot get/, 'but not runtime rules');

  const unknown = fleet.api.addUser('stale-token', 'stale', []);
  fleet.api.users.delete('stale-token');
  const unauthorized = await cli(['killswitch', 'off', '--kubeconfig', unknown]);
  t.equal(unauthorized.code, 1);
  t.match(unauthorized.stderr, /^faultline: the Kubernetes API server refused your credentials \(401 Unauthorized\)/);
  t.same(await states(), [true, true], 'an unknown token changes nothing');

  fleet.api.mode = 'unavailable';
  const down = await cli(['killswitch', 'off', '--kubeconfig', fleet.api.kubeconfig]);
  t.equal(down.code, 1);
  t.match(down.stderr, /^faultline: the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ is unavailable \(503: the server is currently unable to handle the request\)\n$/);
  fleet.api.mode = 'closed';
  const closed = await cli(['killswitch', 'off', '--kubeconfig', fleet.api.kubeconfig]);
  t.equal(closed.code, 1);
  t.match(closed.stderr, /^faultline: cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+: /);
  fleet.api.mode = 'up';
  t.same(await states(), [true, true], 'the API server down: nothing changed');
  t.equal(proxyCalls(), 4, 'only the calls that were allowed reached pods (the operator\'s on, the viewer\'s status)');
});
