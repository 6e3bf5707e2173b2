import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { FdGuard, fdReserve } from '../../src/proxy/fd-guard.js';
import { sleep, tcpServer } from '../helpers/net.js';
import { BIN, listenerPort, startDaemon, type Daemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('FdGuard admits while a reserve stays free, counting again only near the threshold', async (t) => {
  let open = 20;
  let counts = 0;
  const guard = new FdGuard(200, () => (counts++, open), 16);
  t.equal(counts, 1, 'counted once at start');
  t.ok(guard.admit(10, 1000), 'far from the limit: admitted');
  t.equal(counts, 1, 'without counting again');
  open = 182;
  t.ok(guard.admit(81, 2000), 'the estimate is near: counted again, 182 + 2 <= 184');
  t.equal(counts, 2);
  open = 184;
  t.notOk(guard.admit(82, 2050), 'within 100 ms: the estimate decides, 182 + 2 + 2 > 184');
  t.equal(counts, 2);
  t.notOk(guard.admit(82, 2200), 'counted again: 184 + 2 > 184');
  t.ok(new FdGuard(Infinity, () => 1e9).admit(1e6), 'no known limit: always admitted');
  t.equal(fdReserve(1024), 52);
  t.equal(fdReserve(128), 16);
  t.equal(fdReserve(1_048_576), 256);
});

t.test('near a low `ulimit -n`: connections refused with a RST, counted, logged once; /healthz and the admin API answer', async (t) => {
  const held = new Set<Socket>();
  const { port: upstream } = await tcpServer(t, (socket) => held.add(socket));
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`] }));
  // The sidecar runs under its own low limit; this process keeps its own.
  const wrapper = join(dir, 'low-limit.sh');
  writeFileSync(wrapper, `#!/bin/sh\nulimit -n 192 || exit 99\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  const daemon: Daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' }, { wrapper });
  const port = await listenerPort(daemon, 'up');
  const metrics = await listenerPort(daemon, 'metrics');
  const admin = await listenerPort(daemon, 'admin');
  const clients: Socket[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  const endings = { reset: 0, open: 0 };
  for (let i = 0; i < 150; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.once('close', () => endings.reset++);
    clients.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve).once('error', resolve));
  }
  await sleep(500);
  endings.open = clients.length - endings.reset;
  t.ok(endings.reset > 0, `connections beyond the limit refused (${endings.reset} refused, ${endings.open} proxied)`);
  t.ok(endings.open >= 40, 'connections under the limit are proxied');
  t.equal(held.size, endings.open, 'every admitted connection reached the upstream');
  const health = await fetch(`http://127.0.0.1:${metrics}/healthz`, { signal: AbortSignal.timeout(5000) });
  t.equal(health.status, 200, '/healthz answers');
  const status = await fetch(`http://127.0.0.1:${admin}/status`, { signal: AbortSignal.timeout(5000) });
  t.equal(status.status, 200, 'the admin API answers');
  const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const refused = Number(/^faultline_overload_refused_total (\d+)/m.exec(text)?.[1]);
  t.equal(refused, endings.reset, 'faultline_overload_refused_total counts each refusal');
  const lines = daemon.lines.filter((l) => String(l.msg).startsWith('overload'));
  t.equal(lines.length, 1, 'one log line for the burst');
  t.match(lines[0], { refused: 1, limit: 192 });
});

t.test('the low-limit wrapper really lowers the limit (else the test above proves nothing)', async (t) => {
  const dir = tempDir(t);
  const out = await new Promise<string>((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'ulimit -n 192 && exec cat /proc/self/limits'], { cwd: dir });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.on('close', () => resolve(text));
  });
  t.match(out, /Max open files\s+192/);
});
