import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { tcpServer } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'faultline.js');
const folderOf = (stdout: string) => dirname(/sidecar policy (\S+policy\.yaml)/.exec(stdout)?.[1] ?? '/nonexistent/x');

t.test('faultline demo: its own lines only, no macOS open, and no folder (with its token) left behind', async (t) => {
  const child = spawn(process.execPath, [BIN, 'demo', '--base-port', '0'], { env: { ...process.env, FAULTLINE_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 600 && !stdout.includes('Ctrl-C to stop'); i++) await new Promise((r) => setTimeout(r, 100));
  const folder = folderOf(stdout);
  t.ok(existsSync(join(folder, 'admin-token')), 'the token is there while the demo runs');
  t.notMatch(stdout, /^\{"level"/m, 'no JSON log line among the demo\'s text');
  t.notMatch(stdout, /^\s*open /m, 'no macOS-only open command');
  t.match(stdout, /http:\/\/127\.0\.0\.1:\d+\/ui in a browser/);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.notOk(existsSync(folder), `${folder} is removed when the demo stops`);

  const once = await runCli(['demo', '--once', '--base-port', '0']);
  t.equal(once.code, 0, once.stderr);
  t.notOk(existsSync(folderOf(once.stdout)), '--once removes it too');
});

t.test('faultline demo on a port in use: one line that says what to do, exit 1, nothing left', async (t) => {
  const { port } = await tcpServer(t, () => {});
  // Four listeners from the base port: a port this close to the top is refused as a flag instead.
  if (port > 65532) return void t.equal((await runCli(['demo', '--once', '--base-port', String(port)])).code, 2);
  const { code, stdout, stderr } = await runCli(['demo', '--once', '--base-port', String(port)]);
  t.equal(code, 1);
  t.equal(stderr, `faultline: 127.0.0.1:${port} is already in use (another faultline demo running?): stop it, or run faultline demo --base-port 0 for any free ports (or --base-port N for N to N+3)\n`);
  t.equal(stdout, '');
});
