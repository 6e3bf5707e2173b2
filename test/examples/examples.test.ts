import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sidecar.js';

const root = new URL('../../examples/', import.meta.url).pathname;
const policies = readdirSync(join(root, 'policies')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'policies', f));
const others = readdirSync(root).filter((f) => f.endsWith('.yaml')).map((f) => join(root, f));

t.test('the policy examples the README promises are all there', async (t) => {
  const names = policies.map((p) => p.slice(p.lastIndexOf('/') + 1)).sort();
  t.same(names, ['bandwidth-one-client.yaml', 'grpc-abort.yaml', 'http-503-one-path.yaml', 'partition.yaml', 'redis-latency.yaml']);
  for (const file of policies) t.match(readFileSync(file, 'utf8'), /^# \S.*\n/, `${file} opens with a comment saying what it does`);
});

t.test('every example passes faultline validate', async (t) => {
  for (const file of [...policies, ...others]) {
    const { code, stdout } = await cli(['validate', file]);
    t.equal(code, 0, `${file}: ${stdout}`);
    t.equal(stdout, `${file}: ok\n`);
  }
});

t.test('a broken copy of an example is refused (the check above can fail)', async (t) => {
  const dir = tempDir(t);
  for (const file of policies) {
    const broken = join(dir, file.slice(file.lastIndexOf('/') + 1));
    writeFileSync(broken, readFileSync(file, 'utf8').replace(/type: (\w+)/, 'type: $1_typo'));
    const { code, stdout } = await cli(['validate', broken]);
    t.equal(code, 1, broken);
    t.match(stdout, new RegExp(`^${broken}:\\d+:\\d+: `));
  }
});
