import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

// The Kubernetes client and the X.509 builder are for the CLI's cluster commands; a sidecar
// (one per pod) must start without loading them. A resolve hook refuses them: the sidecar still
// comes up, so nothing on its path imports them.
t.test('the sidecar starts without loading @kubernetes/client-node or @peculiar/x509', async (t) => {
  const dir = tempDir(t);
  const hook = join(dir, 'hook.mjs');
  writeFileSync(hook, `export async function resolve(specifier, context, next) {
  if (specifier === '@kubernetes/client-node' || specifier === '@peculiar/x509') throw new Error('the sidecar loaded ' + specifier);
  return next(specifier, context);
}
`);
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({}));
  const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info', NODE_OPTIONS: `--import ${pathToFileURL(register).href}` });
  const up = await Promise.race([daemon.waitForLine((l) => l.msg === 'listening' && l.component === 'admin', 60_000).then(() => 'up'), daemon.exited.then(() => 'exited')]);
  t.equal(up, 'up', `the sidecar came up: ${JSON.stringify(daemon.lines.filter((l) => 'stderr' in l))}`);
});
