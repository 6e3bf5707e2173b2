import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';

// No Docker engine runs here: the Dockerfile is checked by construction.
const text = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
const instructions = text.split('\n').filter((l) => /^[A-Z]+\s/.test(l));

t.test('multi-stage, non-root, the same install steps as CI', async (t) => {
  const stages = instructions.filter((l) => l.startsWith('FROM '));
  t.equal(stages.length, 2, 'a build stage and a runtime stage');
  t.match(stages[0], /^FROM node:20-\S+ AS build$/);
  t.match(stages[1], /^FROM node:20-\S+-slim AS runtime$/);
  const users = instructions.filter((l) => l.startsWith('USER '));
  t.same(users, ['USER 1337:1337'], 'runs as UID/GID 1337');
  t.ok(instructions.indexOf(users[0] as string) > instructions.indexOf(stages[1] as string), 'in the runtime stage');
  t.match(text, /npm ci --no-audit --no-fund/, 'npm ci as in CI');
  t.match(ci, /npm ci --no-audit --no-fund/);
  t.match(text, /original_dst\.node/, 'the native helper is built and shipped');
  t.match(text, /apt-get install -y --no-install-recommends iptables/, 'iptables for the init container');
  t.match(instructions.find((l) => l.startsWith('ENTRYPOINT')), /bin\/faultline\.js/);
  t.match(text, /^ENV npm_config_nodedir=\/usr\/local$/m, 'node-gyp uses the image\'s Node headers, no download');
  t.match(text, /COPY --from=build \/app\/sidecar\/native\/build\/Release\/original_dst\.node/, 'the runtime stage gets the built helper');
  t.match(text, /COPY --from=build \/app\/package\.json \.\//, 'and package.json beside dist/, where --version and GET /status read the version');
  const ignored = readFileSync(new URL('../.dockerignore', import.meta.url), 'utf8').split('\n');
  for (const path of ['node_modules', 'dist', 'sidecar/native/build', '.git']) t.ok(ignored.includes(path), `.dockerignore keeps the host's ${path} out of the build`);
  for (const copy of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
    const source = copy.split(/\s+/)[1] as string;
    t.ok(existsSync(new URL(`../${source}`, import.meta.url)), `COPY ${source}: it exists in the repository`);
  }
});
