import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { withProbability } from '../../src/experiments/plan.js';
import { sample } from '../../src/experiments/probes.js';
import { randomRule, randomFaultTypes, seededRandom } from '../../src/experiments/random.js';
import { AdminTarget } from '../../src/experiments/targets/admin.js';
import { ConfigMapTarget } from '../../src/experiments/targets/configmap.js';
import { kubeApi, putConfigMap } from '../helpers/kube-api.js';
import { echoServer, tcpServer } from '../helpers/net.js';
import { tempDir } from '../helpers/sidecar.js';

t.test('admin target failures are TargetErrors that say what and where', async (t) => {
  t.throws(() => new AdminTarget('a', { url: 'http://127.0.0.1:1', tokenFile: '/nonexistent/token' }), { code: 'FL_ERR_TARGET', message: /target a: cannot read the token file \/nonexistent\/token: ENOENT/ });
  const down = new AdminTarget('a', { url: 'http://127.0.0.1:1/' });
  await t.rejects(down.list('exp.'), { message: /target a: GET http:\/\/127\.0\.0\.1:1\/rules failed: ECONNREFUSED/ });
  const { port } = await tcpServer(t, (socket) => socket.end('HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\nbusy'));
  await t.rejects(new AdminTarget('b', { url: `http://127.0.0.1:${port}` }).remove(['x']), { name: 'TargetError', message: /target b: DELETE \/rules\/x answered 500: busy/ });
});

t.test('configmap target: a missing key, a policy without rules, a bad kubeconfig', async (t) => {
  const api = await kubeApi(t);
  putConfigMap(api, 'shop', 'no-key', { other: 'x' });
  putConfigMap(api, 'shop', 'bare', { 'policy.yaml': 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bare}\nspec: {}\n' });
  const noKey = new ConfigMapTarget('k', { name: 'no-key', key: 'policy.yaml', kubeconfig: api.kubeconfig });
  await t.rejects(noKey.list('exp.'), { message: /no key "policy\.yaml" in the ConfigMap/ });
  const bare = new ConfigMapTarget('k', { name: 'bare', key: 'policy.yaml', kubeconfig: api.kubeconfig, context: 'test' });
  t.equal(bare.location, 'configmap shop/bare (policy.yaml)', 'the namespace from the kubeconfig context');
  t.same(await bare.list('exp.'), []);
  await bare.apply([{ name: 'exp.x.r', faults: [{ type: 'refuse' }] }], new Date('2030-01-01T00:00:00Z'));
  t.same(await bare.list('exp.'), ['exp.x.r'], 'spec.rules created');
  await bare.remove(['exp.x.r']);
  t.same(await bare.list('exp.'), []);
  const bad = join(tempDir(t), 'kubeconfig');
  writeFileSync(bad, 'apiVersion: v1\nkind: Config\ncurrent-context: nope\n');
  t.throws(() => new ConfigMapTarget('k', { name: 'x', key: 'policy.yaml', kubeconfig: bad, context: 'missing' }), { message: /target k: cannot load the kubeconfig/ });
});

t.test('probes: a TCP connect, refused, slow; an HTTP timeout', async (t) => {
  const { port } = await echoServer(t);
  t.match(await sample({ name: 'p', tcp: { address: `127.0.0.1:${port}` }, interval: 1000, timeout: 500 }), { ok: true });
  t.match(await sample({ name: 'p', tcp: { address: '127.0.0.1:1' }, interval: 1000, timeout: 500 }), { ok: false, error: 'ECONNREFUSED' });
  t.match(await sample({ name: 'p', tcp: { address: `127.0.0.1:${port}` }, interval: 1000, timeout: 500, maxLatency: -1 }), { ok: false, error: 'slower than -1 ms' });
  const { port: silent } = await tcpServer(t, () => undefined);
  const hung = await sample({ name: 'p', http: { url: `http://127.0.0.1:${silent}/`, method: 'GET' }, interval: 1000, timeout: 150 });
  t.match(hung, { ok: false, error: 'timeout after 150 ms' });
  t.ok(hung.latencyMs >= 140 && hung.latencyMs < 400, `${hung.latencyMs} ms`);
});

t.test('random helpers and ramps', async (t) => {
  const a = seededRandom(5);
  const b = seededRandom(5);
  const xs = Array.from({ length: 5 }, () => a());
  t.same(xs, Array.from({ length: 5 }, () => b()));
  t.ok(xs.every((x) => x >= 0 && x < 1));
  t.ok(randomFaultTypes().includes('cascading_failure') && randomFaultTypes().filter((x) => x === 'partition').length === 1);
  t.same(randomRule('r', 'http_abort', { listener: 'api' }), { name: 'r', match: { listener: 'api', protocol: 'http' }, faults: [{ type: 'http_abort', status: 503 }] });
  t.same(randomRule('r', 'http_abort', { http: { paths: ['/x'] } }).match, { http: { paths: ['/x'] } });
  t.same(randomRule('r', 'peak_traffic'), { name: 'r', match: {}, scenario: 'peak_traffic' });
  t.same(randomRule('r', 'tls_reject', { ports: [443] }), { name: 'r', match: { ports: [443], protocol: 'tls' }, faults: [{ type: 'tls_reject', alert: 'handshake_failure' }] }, 'handshake faults act on any TLS connection of the match');
  t.same(randomRule('r', 'tls_certificate', { sni: 'api.example.com' }).match, { sni: 'api.example.com' });
  t.same(withProbability({ name: 'r', scenario: 'slow_backend', faults: [{ type: 'reset' }] }, 0.3).faults, [
    { type: 'latency', latency: '2s', jitter: '200ms', probability: 0.3 },
    { type: 'reset', probability: 0.3 },
  ], 'a scenario ramp writes its faults out, each at the stage\'s probability');
});
