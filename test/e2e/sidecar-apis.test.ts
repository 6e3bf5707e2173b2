import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { Toxiproxy } from 'toxiproxy-node-client';
import { request } from 'undici';
import { echoServer, exchange } from '../helpers/net.js';
import { TOKEN } from '../helpers/admin.js';
import { listenerPort, runCli, startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('faultline sidecar --admin --admin-token-file --toxiproxy-api', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  const token = join(dir, 'token');
  writeFileSync(policy, policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`] }));
  writeFileSync(token, TOKEN);
  const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', token, '--toxiproxy-api', '127.0.0.1:0'], {
    FAULTLINE_LOG_LEVEL: 'info',
  });
  const admin = await listenerPort(daemon, 'admin');
  const api = await listenerPort(daemon, 'toxiproxy-api');
  const metrics = await listenerPort(daemon, 'metrics');
  const ready = async () => (await request(`http://127.0.0.1:${metrics}/readyz`)).statusCode;
  for (let i = 0; i < 50 && (await ready()) !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(await ready(), 200, 'ready once every listener and API is bound');

  const proxy = await new Toxiproxy(`http://127.0.0.1:${api}`).createProxy({ name: 'redis', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` });
  t.equal((await exchange(t, Number(proxy.listen.split(':')[1]), 'via toxiproxy')).data.toString(), 'via toxiproxy');

  const off = await request(`http://127.0.0.1:${admin}/killswitch`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(off.statusCode, 200);
  t.same(await off.body.json(), { killSwitch: true });
  const line = await daemon.waitForLine((l) => l.action === 'killswitch.on');
  t.match(line, { audit: true, outcome: 'applied', remote: /^127\.0\.0\.1:/ });
  const conns = (await (await request(`http://127.0.0.1:${admin}/policy`)).body.json()) as { listeners: { name: string; layer: string }[] };
  t.match(conns.listeners, [{ name: 'up', layer: 'file' }, { name: 'redis', layer: 'toxiproxy' }]);
  await daemon.waitForLine((l) => l.msg === 'connection closed' && l.listener === 'redis');
});

t.test('a missing token file is fatal before anything binds; a taken default admin port is not', async (t) => {
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({}));
  const missing = await runCli(['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin-token-file', join(dir, 'nope')]);
  t.equal(missing.code, 1, 'a flag naming a file that cannot be read is a failure (exit 1), as every command has it');
  t.match(missing.stderr, /--admin-token-file: cannot read .*nope: ENOENT/);
  writeFileSync(join(dir, 'empty'), '\n');
  t.match((await runCli(['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin-token-file', join(dir, 'empty')])).stderr, /is empty/);

  const taken = await runCli(['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--toxiproxy-api', 'nonsense']);
  t.equal(taken.code, 2, 'a bad --toxiproxy-api address is a usage error, fatal');
  t.match(taken.stderr, /expected HOST:PORT/);

  // Hold 15000 (or find it held already): the sidecar runs on without its admin API.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.once('error', () => resolve()).listen(15000, '127.0.0.1', () => resolve()));
  t.teardown(() => void holder.close());
  const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' });
  t.match(await daemon.waitForLine((l) => l.component === 'admin' && l.level === 50), { msg: /default address is taken/ });
  await listenerPort(daemon, 'metrics');
});
