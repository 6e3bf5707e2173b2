import t from 'tap';
import { Agent, request } from 'undici';
import { PolicyError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { scenarios } from '../../src/scenarios/index.js';
import { startAdmin } from '../helpers/admin.js';
import { httpUpstream } from '../helpers/http.js';
import { echoServer } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
import { policyText, startSidecar, tempDir } from '../helpers/sidecar.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:6379"}'];
const compile = (rules: string) => compilePolicy(policyText({ listeners, rules }), 'p.yaml');
function problems(rules: string): string[] {
  try {
    compile(rules);
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines();
    throw err;
  }
}

t.test('every scenario compiles in a rule with only a listener match, as its layer says', async (t) => {
  for (const scenario of scenarios) {
    const policy = compile(`    - {name: s, match: {listener: up}, scenario: ${scenario.name}}`);
    const rule = policy.rules[0];
    t.same(rule?.faults.map((f) => f.type.type), scenario.faults.map((f) => f.type), `${scenario.name}: its faults, in order`);
    t.equal(rule?.request !== undefined, scenario.layer === 'http', `${scenario.name}: L7 rule iff it is an http scenario`);
    if (scenario.layer === 'http') t.equal(policy.document.spec.rules[0]?.match.protocol, 'http', 'protocol: http added');
  }
  const network = compile('    - {name: s, scenario: network_degradation}').rules[0];
  t.same(network?.faults.map((f) => f.options), [{ latency: 500, jitter: 100 }, { probability: 0.05, retransmitDelay: 200 }, { rate: 100 * 1024 }]);
  const grpc = compile('    - {name: s, match: {grpc: {methods: ["/a.B/*"]}}, scenario: service_instability}');
  t.equal(grpc.document.spec.rules[0]?.match.protocol, undefined, 'an L7 match is kept as it is');
});

t.test('faults beside scenario merge over the fault of the same type; other types are added', async (t) => {
  const rule = compile(`    - name: s
      scenario: network_degradation
      faults:
        - {type: latency, latency: 800ms}
        - {type: loss, probability: 0}
        - {type: reset, after: 5s}`).rules[0];
  t.same(rule?.faults.map((f) => [f.type.type, f.options]), [
    ['latency', { latency: 800, jitter: 100 }],
    ['loss', { probability: 0, retransmitDelay: 200 }],
    ['bandwidth', { rate: 102400 }],
    ['reset', {}],
  ]);
  t.equal(rule?.faults[3]?.after, 5000);
  const partial = compile(`    - name: s
      scenario: cascading_failure
      faults: [{type: http_abort, probability: 1, statuses: [502]}, {type: rate_limit, rate: 5}]`).rules[0];
  t.same(partial?.faults.find((f) => f.type.type === 'http_abort')?.options, { statuses: [502] });
  t.equal(partial?.faults.find((f) => f.type.type === 'http_abort')?.probability, 1);
  t.same(partial?.faults[0]?.options, { rate: 5, burst: 10 }, 'rate_limit: rate overridden, burst kept');
});

t.test('scenario problems keep FILE:LINE:COL, pointing at what the user wrote', async (t) => {
  t.same(problems('    - {name: s, scenario: network_degredation}'), [
    'p.yaml:8:27: spec.rules[0].scenario: unknown scenario "network_degredation" (known: network_degradation, service_instability, cascading_failure, peak_traffic, slow_backend, partition)',
  ]);
  t.same(problems(`    - name: s
      scenario: slow_backend
      faults:
        - {type: latency, latency: soon}`), ['p.yaml:11:36: spec.rules[0].faults[0].latency: invalid duration "soon" (write e.g. "250ms", "1.5s" or 100)']);
  t.match(problems('    - {name: s, match: {protocol: tcp}, scenario: peak_traffic}')[0], /^p\.yaml:8:51: spec\.rules\[0\]\.scenario: peak_traffic acts on HTTP requests: drop protocol: tcp/);
  t.match(problems('    - {name: s, match: {protocol: http}, scenario: partition}')[0], /^p\.yaml:8:52: spec\.rules\[0\]\.scenario: partition is made of connection faults/);
  t.match(problems('    - {name: s, scenario: 42}').join('\n'), /spec\.rules\[0\]\.scenario: /, 'not a string');
  t.same(problems('    - {name: s}'), ['p.yaml:8:7: spec.rules[0].faults: required field is missing']);
});

t.test('the admin API takes scenario rules, validated the same way', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  const created = await h.call('POST', '/rules', { body: { name: 'degraded', match: { listener: 'up' }, scenario: 'network_degradation', faults: [{ type: 'bandwidth', rate: '1MiB/s' }] } });
  t.equal(created.status, 201);
  const policy = await h.call('GET', '/policy');
  const rule = policy.json.rules.find((r: { name: string }) => r.name === 'degraded');
  t.same(rule.faults.map((f: { type: string }) => f.type), ['latency', 'loss', 'bandwidth'], 'GET /policy shows what it expanded to');
  t.equal(rule.scenario, 'network_degradation');
  t.same((await h.call('GET', '/rules')).json.rules[0].scenario, 'network_degradation', 'the runtime rule is kept as written');
  const refused = await h.call('POST', '/rules', { body: { name: 'bad', scenario: 'nope' } });
  t.equal(refused.status, 400);
  t.match(refused.json.problems, [{ path: 'scenario', message: /unknown scenario "nope" \(known: network_degradation/ }]);
});

t.test('http scenarios on a real sidecar: statuses, timeouts, resets, delay jitter', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: errors
      match: {listener: up, http: {paths: ["/errors"]}}
      scenario: service_instability
      faults: [{type: http_abort, probability: 1, statuses: [502, 504]}]
    - name: timeouts
      match: {listener: up, http: {paths: ["/timeout"]}}
      scenario: service_instability
      faults: [{type: http_abort, probability: 0}, {type: http_timeout, timeout: 200ms, probability: 1}]
    - name: resets
      match: {listener: up, http: {paths: ["/reset"]}}
      scenario: cascading_failure
      faults: [{type: http_reset, probability: 1}, {type: rate_limit, rate: 1000}]
    - name: slow
      match: {listener: up, http: {paths: ["/slow"]}}
      faults: [{type: http_delay, delay: 300ms, jitter: 100ms}]`);
  const seen = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const res = await request(`http://127.0.0.1:${port}/errors`, { reset: true });
    t.equal(res.headers['x-faultline-fault'], 'errors/http_abort');
    await res.body.dump();
    seen.add(res.statusCode);
  }
  t.same([...seen].sort(), [502, 504], 'both statuses drawn (40 draws: chance of missing one is 2e-12)');

  const started = performance.now();
  const timedOut = await request(`http://127.0.0.1:${port}/timeout`, { reset: true });
  const waited = performance.now() - started;
  t.equal(timedOut.statusCode, 504);
  t.match(await timedOut.body.json(), { error: 'fault_injected', fault: 'http_timeout', code: 504 });
  t.ok(waited >= 195 && waited < 400, `answered after the timeout (${waited.toFixed(0)} ms)`);

  const reset = await request(`http://127.0.0.1:${port}/reset`, { reset: true }).then(
    () => 'answered',
    (err: Error & { code?: string; cause?: { code?: string } }) => err.code ?? err.cause?.code ?? err.message,
  );
  t.match(reset, /ECONNRESET|UND_ERR_SOCKET/, `reset instead of an answer (${reset})`);

  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const begin = performance.now();
    const res = await request(`http://127.0.0.1:${port}/slow`, { dispatcher: agent });
    await res.body.dump();
    delays.push(performance.now() - begin);
  }
  t.ok(delays.every((d) => d >= 195 && d < 450), `delays within 300 ± 100 ms: ${delays.map((d) => d.toFixed(0)).join(', ')}`);
  t.ok(Math.max(...delays) - Math.min(...delays) > 5, 'and they vary');
});

t.test('faultline scenarios lists them; validate refuses an unknown one', async (t) => {
  const all = await runCli(['scenarios']);
  t.equal(all.code, 0);
  for (const s of scenarios) t.match(all.stdout, new RegExp(`^${s.name}$`, 'm'));
  t.match(all.stdout, /\{ type: http_abort, statuses: \[ 500, 502, 503, 504 \], probability: 0\.2 \}/);
  t.match(all.stdout, /merge\s+over the scenario's fault of the same type/);
  const unknown = await runCli(['scenarios', 'nope']);
  t.equal(unknown.code, 2, "a usage error");
  t.match(unknown.stderr, /unknown scenario "nope" \(known: network_degradation/);
  const file = join(tempDir(t), 'p.yaml');
  writeFileSync(file, policyText({ listeners, rules: '    - {name: s, scenario: flaky}' }));
  const validated = await runCli(['validate', file]);
  t.equal(validated.code, 1);
  t.match(validated.stdout, new RegExp(`^${file}:8:27: spec\\.rules\\[0\\]\\.scenario: unknown scenario "flaky"`, 'm'));
});
