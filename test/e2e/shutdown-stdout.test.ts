import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BIN } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

// A pod's log reader can go away (a restarted runtime shim, a closed `kubectl logs` pipe): then
// every write to stdout fails with EPIPE. SIGTERM must still drain and exit 0, promptly.
t.test('SIGTERM exits 0 when the reader of stdout is gone', async (t) => {
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:9"}'] }));
  const child = spawn(process.execPath, [BIN, 'sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--drain-timeout', '100'], {
    env: { ...process.env, FAULTLINE_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not up in 60 s: ${seen}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/"component":"admin".*"msg":"listening"/.test(seen)) (clearTimeout(timer), resolve());
    });
  });
  // The read end closes: the sidecar's next write to stdout gets EPIPE.
  child.stdout.destroy();
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000))]);
  t.equal(code, 0, 'drained and exited 0');
});
