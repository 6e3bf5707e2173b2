import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/sidecar.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The pids of a process group, from ps (empty once every member is gone). */
function group(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('npx faultline sidecar stopped by SIGTERM to npm leaves no process behind', async (t) => {
  const policy = join(tempDir(t), 'policy.yaml');
  writeFileSync(policy, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: p}\nspec: {listeners: [], rules: []}\n');
  // Its own process group, so that the test can see (and, at worst, end) every process npm made.
  const npx = spawn('npx', ['faultline', 'sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-format', 'json', '--log-level', 'info'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FAULTLINE_LOG_LEVEL: '' },
  });
  t.teardown(() => {
    for (const pid of group(npx.pid as number)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  let out = '';
  npx.stdout.on('data', (d: Buffer) => (out += d));
  npx.stderr.on('data', (d: Buffer) => (out += d));
  let sidecarPid: number | undefined;
  for (let i = 0; i < 600 && sidecarPid === undefined; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const ready = out.split('\n').find((l) => l.includes('"component":"admin"') && l.includes('"listening"'));
    if (ready) sidecarPid = (JSON.parse(ready) as { pid: number }).pid;
  }
  t.ok(sidecarPid, `the sidecar started under npx: ${out}`);
  t.ok(group(npx.pid as number).length >= 2, 'npm, and the sidecar below it');
  const exited = new Promise<void>((resolve) => npx.on('exit', () => resolve()));
  process.kill(npx.pid as number, 'SIGTERM');
  await exited;
  let left = group(npx.pid as number);
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = group(npx.pid as number);
  }
  t.same(left, [], 'no process of the group is left');
  t.notOk(alive(sidecarPid as number), 'the sidecar itself is gone');
  t.match(out, /"msg":"drained"/, 'it drained as on a SIGTERM of its own');
});
