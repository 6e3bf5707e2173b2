import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { collect, dial, echoServer, exchange, roundTrip, tcpServer } from '../helpers/net.js';
import { listenerPort, runCli, startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('faultline validate: 0 for valid files, 1 with FILE:LINE:COL lines otherwise', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, policyText({ listeners: ['{name: a, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'] }));
  writeFileSync(bad, policyText({ listeners: [], rules: '    - {name: r, faults: [{type: latency, latency: 1s, probability: 2}]}' }));
  const ok = await runCli(['validate', good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /good\.yaml: ok/);
  const failed = await runCli(['validate', good, bad, join(dir, 'missing.yaml')]);
  t.equal(failed.code, 1);
  t.match(failed.stdout, /bad\.yaml:7:\d+: spec\.rules\[0\]\.faults\[0\]\.probability: probability must be within \[0, 1\]/);
  t.match(failed.stdout, /missing\.yaml:1:1: file not found/);
});

t.test('faultline demo --once shows the delay, the resets and the cap', async (t) => {
  const { code, stdout } = await runCli(['demo', '--once', '--base-port', '0']);
  t.equal(code, 0, stdout);
  t.match(stdout, /latency: .* through "slow" \d+\.\d ms/);
  t.match(stdout, /reset: .* 10 requests through "flaky"/);
  t.match(stdout, /bandwidth: 512 KiB through "capped"/);
  t.match(stdout, /proof: .*slow-responses 1, flaky-connections \d+, thin-pipe 1/, 'the metrics prove each fault fired');
});

t.test('faultline sidecar: a refused upstream resets the client and logs the connection id and cause', async (t) => {
  const { port: closed, server } = await tcpServer(t, () => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText({ listeners: [`{name: dead, listen: "127.0.0.1:0", upstream: "127.0.0.1:${closed}"}`] }));
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0']);
  const port = await listenerPort(daemon, 'dead');
  const outcome = await exchange(t, port, 'hello', { keepOpen: true });
  t.equal(outcome.ending, 'ECONNRESET', 'the client sees a RST');
  t.ok(outcome.ms < 500, `promptly (${outcome.ms.toFixed(0)} ms)`);
  const line = await daemon.waitForLine((l) => l.msg === 'upstream unreachable: resetting client');
  t.match(line, { conn: /^c/, cause: 'ECONNREFUSED', upstream: `127.0.0.1:${closed}` });
});

t.test('SIGTERM drains: new connections still served, live ones finish, then the process exits', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`] }));
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--drain-timeout', '1500']);
  const port = await listenerPort(daemon, 'up');
  const live = await dial(t, port);
  t.ok((await roundTrip(live)) < 100);
  const liveEnd = collect(live);
  const termAt = performance.now();
  daemon.child.kill('SIGTERM');
  await daemon.waitForLine((l) => l.msg === 'draining');
  t.equal((await exchange(t, port, 'x')).data.toString(), 'x', 'a new connection is still served (iptables may still send traffic here)');
  t.ok((await roundTrip(live)) < 100, 'the live connection still works while draining');
  live.end();
  await liveEnd;
  t.equal(await daemon.exited, 0, 'exit 0');
  t.ok(performance.now() - termAt < 1400, 'exits as soon as the live connection is done, before the drain timeout');
});

t.test('SIGTERM with a connection that never ends: reset at the drain timeout', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`] }));
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--drain-timeout', '500']);
  const live = await dial(t, await listenerPort(daemon, 'up'));
  const outcome = collect(live);
  const termAt = performance.now();
  daemon.child.kill('SIGTERM');
  t.equal((await outcome).ending, 'ECONNRESET', 'cut with a reset: a truncated transfer looks broken');
  const ms = performance.now() - termAt;
  t.ok(ms >= 450 && ms < 1500, `closed after ${ms.toFixed(0)} ms (drain timeout 500 ms)`);
  t.equal(await daemon.exited, 0);
});

t.test('--drain-timeout takes a duration; a malformed or negative one is refused in one line, exit 2', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText({ listeners: [] }));
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--drain-timeout', '5s']);
  const line = await daemon.waitForLine((l) => l.msg === 'listening' && l.component === 'admin', 60_000);
  t.ok(line, '"5s" is accepted');
  daemon.child.kill('SIGTERM');
  const draining = await daemon.waitForLine((l) => l.msg === 'draining');
  t.equal(draining.timeoutMs, 5000, 'and means 5000 ms');
  for (const value of ['abc', '-5', '5x', '2h']) {
    const { code, stderr } = await runCli(['sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--drain-timeout', value]);
    t.equal(code, 2, `${value}: exit 2`);
    t.match(stderr.trim(), new RegExp(`^[^\\n]*--drain-timeout: "${value}" must be a duration from 0 to 1h[^\\n]*$`), `${value}: one line naming the flag`);
  }
});
