import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AdminCredentials } from '../../src/admin/auth.js';
import { startAdmin } from '../helpers/admin.js';
import { echoServer } from '../helpers/net.js';
import { tempDir } from '../helpers/sidecar.js';

const VIEW = 'a'.repeat(64);
const KILL = 'b'.repeat(64);
const RULES = 'c'.repeat(64);
const RULE = { name: 'rt', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '5ms' }] };

/** A credentials directory laid out as the kubelet writes a projected Secret volume (symlinks through ..data). */
function projected(dir: string, tokens: Record<string, string>, generation: number): void {
  const data = join(dir, `..gen${generation}`);
  mkdirSync(data);
  for (const [name, token] of Object.entries(tokens)) writeFileSync(join(data, name), token);
  symlinkSync(`..gen${generation}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(tokens)) {
    try {
      symlinkSync(join('..data', name), join(dir, name));
    } catch {
      // already linked through ..data
    }
  }
}

t.test('per-verb credentials: view reads, killswitch flips, rules changes rules; 401 without, 403 naming the verb', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  projected(dir, { view: VIEW, killswitch: KILL, rules: RULES }, 1);
  let now = 0;
  const credentials = new AdminCredentials({ credentialsDir: dir, protectReads: true, now: () => now });
  const h = await startAdmin(t, echo, undefined, { tokenFile: false, credentials });

  const anonymous = await h.call('GET', '/policy', { token: false });
  t.equal(anonymous.status, 401, 'reads on a protected admin API need a credential');
  t.match(anonymous.json.message, /"view" credential/);
  const unknown = await h.call('GET', '/connections', { token: 'nope' });
  t.equal(unknown.status, 403, 'an unknown credential is refused');
  t.match(unknown.json.message, /unknown admin credential; this call needs the "view" credential/);
  for (const path of ['/policy', '/connections', '/faults', '/rules', '/killswitch', '/status', '/']) {
    t.equal((await h.call('GET', path, { token: VIEW })).status, 200, `view reads ${path}`);
  }
  t.equal((await h.call('GET', '/ui', { token: false })).status, 200, 'the page itself is open (its data is not)');

  const weak = await h.call('POST', '/killswitch', { token: VIEW, header: 'x-faultline-token' });
  t.equal(weak.status, 403);
  t.match(weak.json.message, /needs the "killswitch" credential \(Secret faultline-admin-killswitch.*grants "view" only/, 'the message names the verb needed');
  t.equal(h.sidecar.engine.killSwitch, false);
  t.equal((await h.call('POST', '/killswitch', { token: KILL, header: 'x-faultline-token' })).status, 200, 'X-Faultline-Token, as the pod proxy delivers it');
  t.equal(h.sidecar.engine.killSwitch, true);
  t.equal((await h.call('GET', '/status', { token: KILL })).status, 200, 'a higher level reads too');
  const noRules = await h.call('POST', '/rules', { token: KILL, body: RULE });
  t.equal(noRules.status, 403);
  t.match(noRules.json.message, /"rules" credential/);
  t.equal((await h.call('POST', '/rules', { token: RULES, body: RULE })).status, 201);
  t.equal((await h.call('DELETE', '/killswitch', { token: RULES })).status, 200, 'rules grants the kill switch too');

  const req = (headers: Record<string, string>) => ({ headers }) as unknown as import('node:http').IncomingMessage;
  t.equal(credentials.verbFor(req({})), undefined, 'verbFor: no credential');
  t.equal(credentials.verbFor(req({ 'x-faultline-token': KILL })), 'killswitch', 'verbFor: the level a credential grants');
  t.equal(credentials.verbFor(req({ authorization: `bearer ${RULES}` })), 'rules', 'Bearer, any case');
  t.throws(() => credentials.verbFor(req({ 'x-faultline-token': 'nope' })), { status: 403, message: /unknown admin credential/ });
  const status = (await h.call('GET', '/status', { token: VIEW })).json;
  t.same(status.adminCredentials, ['view', 'killswitch', 'rules'], '/status says which levels are present, never a token');

  // Rotation: the kubelet swaps ..data; the files are looked at once per recheck interval.
  projected(dir, { view: 'd'.repeat(64), killswitch: KILL, rules: RULES }, 2);
  t.equal((await h.call('GET', '/policy', { token: VIEW })).status, 200, 'within the recheck interval the old token still holds');
  now += 1500;
  t.equal((await h.call('GET', '/policy', { token: VIEW })).status, 403, 'after it, the rotated Secret applies without a restart');
  t.equal((await h.call('GET', '/policy', { token: 'd'.repeat(64) })).status, 200);
  rmSync(join(dir, '..data'));
  now += 1500;
  t.equal((await h.call('GET', '/policy', { token: 'd'.repeat(64) })).status, 200, 'a Secret briefly unreadable keeps its last token');

  const logged = JSON.stringify(h.lines);
  for (const token of [VIEW, KILL, RULES]) t.notOk(logged.includes(token), 'no token in any log line');
});

t.test('credentials missing at start: changes refused until the Secret appears; loopback reads stay open', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  let now = 0;
  const credentials = new AdminCredentials({ credentialsDir: dir, now: () => now });
  const h = await startAdmin(t, echo, undefined, { tokenFile: false, credentials });
  t.same(credentials.levels(), []);
  t.equal((await h.call('GET', '/policy', { token: false })).status, 200, 'reads are open on loopback');
  t.equal((await h.call('POST', '/killswitch', { token: KILL })).status, 403, 'no Secret yet: refused');
  writeFileSync(join(dir, 'killswitch'), `${KILL}\n`);
  now += 1500;
  t.equal((await h.call('POST', '/killswitch', { token: KILL })).status, 200, 'picked up once it appears');
  t.same(credentials.levels(), ['killswitch']);

  // A token in the query string is not a credential, and never reaches a log line.
  const query = await h.call('POST', `/killswitch?token=${KILL}`, { token: false });
  t.equal(query.status, 401);
  t.notOk(JSON.stringify(h.lines).includes(KILL), 'the audit line has the path without its query');
  t.ok(h.lines.some((l) => l.audit && l.path === '/killswitch' && l.outcome === 'denied'));

  t.throws(() => new AdminCredentials({ credentialsDir: join(dir, 'nope') }), { code: 'FL_ERR_USAGE', message: /--admin-credentials: .*nope is not a directory/ });
  const nothing = new AdminCredentials({ protectReads: true });
  const harness = await startAdmin(t, echo, undefined, { tokenFile: false, credentials: nothing });
  t.match((await harness.call('GET', '/policy', { token: false })).json.message, /outside loopback need a credential, and none is configured/);
});
