import { rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { dial, echoServer, roundTrip, waitFor } from '../helpers/net.js';
import { RECHECK_MS } from '../../src/admin/auth.js';
import { startAdmin, TOKEN } from '../helpers/admin.js';

const SLOW = `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 80ms}]`;

t.test('auth: mutating calls need the token (401 without, 403 wrong); each change is audited', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  const none = await h.call('POST', '/killswitch', { token: false });
  t.equal(none.status, 401);
  t.match(none.headers['www-authenticate'], /^Bearer/);
  t.match(none.json, { error: 'unauthorized' });
  t.equal((await h.call('POST', '/killswitch', { token: 'wrong' })).status, 403);
  t.equal((await h.call('DELETE', '/rules/x', { token: 'wrong' })).status, 403, 'before anything else is looked at');
  t.equal(h.sidecar.engine.killSwitch, false, 'nothing changed');
  t.equal((await h.call('GET', '/killswitch', { token: false })).status, 200, 'reads need no token');
  t.equal((await h.call('POST', '/killswitch')).status, 200);
  t.equal(h.sidecar.engine.killSwitch, true);

  const denied = h.lines.filter((l) => l.audit && l.outcome === 'denied');
  t.equal(denied.length, 3, 'denied attempts are audited');
  const applied = h.lines.find((l) => l.audit && l.outcome === 'applied');
  t.match(applied, { action: 'killswitch.on', status: 200, remote: /^127\.0\.0\.1:\d+$/, method: 'POST', path: '/killswitch', time: Number });

  rmSync(h.tokenFile);
  t.equal((await h.call('DELETE', '/killswitch')).status, 200, 'a token file briefly unreadable (a Secret being swapped) keeps the last token');
  writeFileSync(h.tokenFile, 'rotated\n');
  // The file is looked at once a second at most.
  await new Promise((resolve) => setTimeout(resolve, RECHECK_MS + 50));
  t.equal((await h.call('POST', '/killswitch')).status, 403, 'a rotated token applies without a restart');
  t.equal((await h.call('POST', '/killswitch', { token: 'rotated' })).status, 200);

  const unconfigured = await startAdmin(t, echo, undefined, { tokenFile: false });
  const refused = await unconfigured.call('POST', '/killswitch');
  t.equal(refused.status, 403, 'without --admin-token-file, changes are refused');
  t.match(refused.json.message, /--admin-token-file/);
});

t.test('kill switch: every fault off at once, holding across a reload until DELETE', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, SLOW);
  const live = await dial(t, h.port);
  t.ok((await roundTrip(live)) >= 75, 'the fault applies');
  t.same((await h.call('POST', '/killswitch')).json, { killSwitch: true });
  t.ok((await roundTrip(live)) < 40, 'off on the live connection at once');

  const before = h.sidecar.policy.hash;
  h.write(SLOW.replace('80ms', '90ms'));
  t.ok(await waitFor(() => h.sidecar.policy.hash !== before), 'the file was reloaded');
  t.ok((await roundTrip(live)) < 40, 'the kill switch holds across the reload');
  t.ok((await roundTrip(await dial(t, h.port))) < 40, 'for new connections too');
  t.match((await h.call('GET', '/policy')).json, { killSwitch: true, faultsEnabled: false });

  t.same((await h.call('DELETE', '/killswitch')).json, { killSwitch: false });
  t.ok((await roundTrip(live)) >= 85, 'DELETE puts the policy back in force');
});

t.test('runtime rules: validated like the file, applied to live connections, kept across reloads', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, `    - name: file-rule
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`);
  const live = await dial(t, h.port);
  t.ok((await roundTrip(live)) < 40);

  const rule = { name: 'rt', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '80ms' }] };
  const created = await h.call('POST', '/rules', { body: rule });
  t.equal(created.status, 201);
  t.ok((await roundTrip(live)) >= 75, 'the runtime rule reaches a live connection');
  t.same((await h.call('GET', '/rules')).json.rules, [rule]);
  t.match((await h.call('GET', '/policy')).json.rules, [{ name: 'file-rule', layer: 'file' }, { name: 'rt', layer: 'runtime' }]);

  const replaced = await h.call('POST', '/rules', { body: { ...rule, faults: [{ type: 'latency', latency: 1 }] } });
  t.equal(replaced.status, 200, 'the same name replaces');
  t.ok((await roundTrip(live)) < 40);

  const bad = await h.call('POST', '/rules', {
    body: { name: 'bad', match: { listener: 'nowhere' }, faults: [{ type: 'latency', latency: -5 }, { type: 'teleport' }, { type: 'reset', bogus: 1 }] },
  });
  t.equal(bad.status, 400);
  t.equal(bad.json.error, 'invalid_rule');
  t.same(
    bad.json.problems.map((p: { path: string }) => p.path).sort(),
    ['faults[0].latency', 'faults[1].type', 'faults[2].bogus', 'match.listener'],
    'every problem, with its path in the rule',
  );
  t.match(bad.json.problems.find((p: { path: string }) => p.path === 'match.listener'), { message: /no listener named "nowhere"/ });
  t.match((await h.call('POST', '/rules', { body: { name: 'file-rule', faults: [{ type: 'blackhole' }] } })).json, { error: 'invalid_rule', message: /duplicate rule name/ });
  t.match((await h.call('POST', '/rules', { body: '{"name":' })).json, { error: 'malformed_json' });
  t.equal((await h.call('POST', '/rules', { body: [] })).status, 400);
  t.equal(h.sidecar.policy.rules.length, 2, 'refused rules change nothing');

  await h.call('POST', '/rules', { body: rule });
  const before = h.sidecar.policy.hash;
  h.write(`    - name: file-rule
      match: {listener: up}
      faults: [{type: latency, latency: 2ms}]`);
  t.ok(await waitFor(() => h.sidecar.policy.hash !== before), 'the file was reloaded');
  t.ok((await roundTrip(live)) >= 75, 'the runtime rule survives it');

  t.equal((await h.call('DELETE', '/rules/rt')).status, 204);
  t.ok((await roundTrip(live)) < 40, 'deleting it ends it on the live connection');
  t.match(await h.call('DELETE', '/rules/rt'), { status: 404, json: { error: 'not_found' } });
  t.match((await h.call('DELETE', '/rules/file-rule')).json.message, /rule of the policy file/);
  t.ok(h.lines.some((l) => l.action === 'rules.create' && l.rule === 'rt'), 'audited');
  t.ok(h.lines.some((l) => l.action === 'rules.replace'));
  t.ok(h.lines.some((l) => l.action === 'rules.delete' && l.status === 204));
});

t.test('GET /policy, /connections, /faults', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}, {type: slicer, averageSize: 8, probability: 0}]`);
  const policy = (await h.call('GET', '/policy')).json;
  t.match(policy, { name: 'test', hash: /^[0-9a-f]{16}$/, source: /policy\.yaml$/, loadedAt: String, enabled: true, killSwitch: false, lastError: null, interception: { mode: 'none' } });
  t.match(policy.listeners, [{ name: 'up', address: `127.0.0.1:${h.port}`, layer: 'file' }]);

  const a = await dial(t, h.port);
  const b = await dial(t, h.port);
  await roundTrip(a, 100);
  await roundTrip(b, 10);
  const all = (await h.call('GET', '/connections')).json;
  t.equal(all.total, 2);
  const first = all.connections[0];
  t.match(first, { id: String, listener: 'up', direction: 'outbound', source: /^127\.0\.0\.1:\d+$/, destination: `127.0.0.1:${echo}`, protocol: 'tcp', ageMs: Number, bytesUpstream: 100, bytesDownstream: 100 });
  t.same(first.faults, [{ rule: 'slow', fault: 'latency', count: 1, active: true }], 'the faults that fired, with counts');
  t.equal((await h.call('GET', '/connections?limit=1')).json.returned, 1);
  t.equal((await h.call('GET', '/connections?limit=1')).json.total, 2);
  t.equal((await h.call('GET', '/connections?listener=nope')).json.total, 0);
  t.equal((await h.call('GET', '/connections?rule=slow&fault=latency&faulted=true&direction=outbound&protocol=tcp')).json.total, 2);
  t.equal((await h.call('GET', '/connections?fault=slicer')).json.total, 0, 'a fault that was not drawn did not fire');
  t.equal((await h.call('GET', '/connections?faulted=false')).json.total, 0);
  t.match(await h.call('GET', '/connections?limit=0'), { status: 400, json: { error: 'invalid_query', message: /limit/ } });
  t.match(await h.call('GET', '/connections?colour=red'), { status: 400, json: { message: /colour/ } });

  const faults = (await h.call('GET', '/faults')).json;
  t.match(faults.faults, [{ rule: 'slow', fault: 'latency', layer: 'file', active: 2, injected: 2 }, { rule: 'slow', fault: 'slicer', active: 0, injected: 0 }]);

  h.write('  not yaml: [');
  t.ok(await waitFor(() => h.sidecar.lastError !== undefined), 'a bad reload');
  t.match((await h.call('GET', '/policy')).json.lastError, { at: String, message: /YAML/ });

  t.match((await h.call('GET', '/')).json, { endpoints: Array });
  t.equal((await h.call('GET', '/nope')).status, 404);
  t.equal((await h.call('GET', '/constructor')).status, 404, 'no prototype property is an endpoint');
  t.equal((await h.call('PUT', '/killswitch')).status, 405);
  t.match(await h.call('GET', '/rules/x'), { status: 404, json: { error: 'not_found', message: 'no runtime rule named "x"' } }, 'GET /rules/NAME');
  const big = await request(`${h.admin}/rules`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: Buffer.alloc(2 * 1024 * 1024, 32) });
  t.equal(big.statusCode, 413, 'bodies over 1 MiB are refused');
  await big.body.text();
  const chunked = await request(`${h.admin}/rules`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: Readable.from([Buffer.alloc(700_000, 32), Buffer.alloc(700_000, 32)]) }).catch((err: Error) => err);
  t.ok(chunked instanceof Error || chunked.statusCode === 413, 'a chunked body over 1 MiB too');
  if (!(chunked instanceof Error)) await chunked.body.text();
  t.match(await h.call('GET', '/rules/%E0%A4%A'), { status: 400, json: { error: 'malformed_path' } });
});
