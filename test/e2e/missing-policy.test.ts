import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { echoServer, waitFor } from '../helpers/net.js';
import { listenerPort, runCli, startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('faultline sidecar with a missing policy file: one line, exit 1, no stack trace', async (t) => {
  const dir = tempDir(t);
  const { code, stdout, stderr } = await runCli(['sidecar', '--policy', join(dir, 'policy.yaml'), '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  t.equal(code, 1);
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${stderr}`);
  t.match(lines[0], /^faultline: --policy .*policy\.yaml: no such file \(--allow-missing-policy starts with no fault until it appears\)$/);
  t.notMatch(stdout + stderr, /\bat .*\.ts:\d+/, 'no stack trace');
});

t.test('faultline sidecar --allow-missing-policy: ready with no fault, GET /policy says the file is missing, the file applies when it appears', async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--allow-missing-policy', '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' });
  const metrics = await listenerPort(daemon, 'metrics');
  const admin = await listenerPort(daemon, 'admin');
  const get = async (url: string) => {
    const res = await request(url);
    return { status: res.statusCode, body: res.headers['content-type']?.toString().startsWith('application/json') ? ((await res.body.json()) as any) : await res.body.text() };
  };
  t.ok(await waitFor(async () => (await get(`http://127.0.0.1:${metrics}/readyz`)).status === 200, 5000), 'ready without its policy file');
  t.match((await get(`http://127.0.0.1:${admin}/policy`)).body, { name: 'none', fileMissing: true, rules: [] });
  t.match((await get(`http://127.0.0.1:${admin}/status`)).body, { policy: { fileMissing: true }, faults: [] });
  writeFileSync(file, policyText({ name: 'arrived', listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`], rules: '    - {name: r, match: {listener: up}, faults: [{type: refuse}]}' }));
  t.ok(await waitFor(async () => (await get(`http://127.0.0.1:${admin}/status`)).body.policy.name === 'arrived', 5000), 'applied when it appears');
  t.match((await get(`http://127.0.0.1:${admin}/status`)).body, { policy: { fileMissing: false }, faults: [{ rule: 'r', fault: 'refuse' }] });
});
