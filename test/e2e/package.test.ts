import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/sidecar.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs a command to completion (bounded); its output is kept for the test's comment. */
function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  const started = performance.now();
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', seconds: ((performance.now() - started) / 1000).toFixed(1) };
}

// What a user gets from `npm pack`: installed alone into an empty prefix (no source checkout, no
// dev dependency), `faultline` works. The npm cache `npm ci` filled makes the install quick.
t.test('npm pack, npm install -g the tarball into a temporary prefix, then faultline --version and demo --once', async (t) => {
  const dir = tempDir(t);
  const pack = run('npm', ['pack', '--pack-destination', dir, '--silent'], { timeoutMs: 90_000 });
  t.equal(pack.code, 0, pack.code === 0 ? 'npm pack (prepack builds dist/)' : pack.stderr.slice(-400));
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) as string;
  t.equal(tarball, `faultline-${VERSION}.tgz`);

  const prefix = join(dir, 'prefix');
  const install = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { timeoutMs: 90_000 });
  t.equal(install.code, 0, install.code === 0 ? 'npm install -g' : install.stderr.slice(-400));
  const installed = join(prefix, 'lib', 'node_modules', 'faultline');
  t.notOk(existsSync(join(installed, 'src')), 'no TypeScript source: the built JavaScript runs');
  for (const path of ['dist/cli/main.js', 'manifests/faultline.yaml', 'sidecar/native/original_dst.c', 'sidecar/native/binding.gyp']) t.ok(existsSync(join(installed, path)), `the package carries ${path}`);
  t.notOk(existsSync(join(installed, 'node_modules', 'tsx')), 'no dev dependency was installed');

  const bin = join(prefix, 'bin', 'faultline');
  const version = run(bin, ['--version'], { cwd: dir });
  t.equal(version.code, 0, version.stderr);
  t.equal(version.stdout.trim(), VERSION, 'faultline --version');
  const demo = run(bin, ['demo', '--once', '--base-port', '0'], { cwd: dir, timeoutMs: 60_000 });
  t.equal(demo.code, 0, demo.stderr.slice(-400));
  t.match(demo.stdout, /proof: .*slow-responses 1, flaky-connections \d+, thin-pipe 1/, 'the demo runs its faults from the installed package');
  const manifests = run(bin, ['install'], { cwd: dir });
  t.equal(manifests.stdout, readFileSync(join(ROOT, 'manifests', 'faultline.yaml'), 'utf8'), 'faultline install from the package renders manifests/');

  t.comment(`npm pack: ${pack.seconds} s, ${tarball}; npm install -g: ${install.seconds} s; native helper built: ${existsSync(join(installed, 'sidecar/native/build/Release/original_dst.node'))}`);
  t.comment(`$ faultline --version\n${version.stdout.trim()}`);
  t.comment(`$ faultline demo --once --base-port 0\n${demo.stdout.trim()}`);
});
