import t from 'tap';
import { Agent, request } from 'undici';
import { startSidecar } from '../helpers/sidecar.js';
import { bodyFor, httpUpstream } from '../helpers/http.js';
import { binomialInterval } from '../helpers/stats.js';

t.test('http_abort answers matching requests with the SPEC error; others pass byte for byte on the same connection', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: fail-api
      match: {listener: up, protocol: http, http: {methods: [GET], paths: ["/api/*"]}}
      faults: [{type: http_abort, status: 503}]`);
  const direct = await request(`http://127.0.0.1:${up}/other?size=5000`);
  const directBody = Buffer.from(await direct.body.arrayBuffer());
  const agent = new Agent({ connections: 1, pipelining: 1 });
  t.teardown(() => agent.close());
  const aborted = await request(`http://127.0.0.1:${port}/api/x`, { dispatcher: agent, headers: { 'x-request-id': 'abc' } });
  t.equal(aborted.statusCode, 503);
  t.equal(aborted.headers['x-faultline-fault'], 'fail-api/http_abort');
  const json = (await aborted.body.json()) as Record<string, unknown>;
  t.match(json, { error: 'fault_injected', code: 503, rule: 'fail-api', fault: 'http_abort', requestId: 'abc', retryable: true });
  t.type(json.timestamp, 'string');
  const passed = await request(`http://127.0.0.1:${port}/other?size=5000`, { dispatcher: agent });
  t.equal(passed.statusCode, 200);
  const body = Buffer.from(await passed.body.arrayBuffer());
  t.ok(body.equals(directBody) && body.equals(bodyFor('/other', 5000)), 'unmatched response is byte-identical');
  const post = await request(`http://127.0.0.1:${port}/api/x`, { method: 'POST', body: 'hello', dispatcher: agent });
  t.equal(await post.body.text(), 'POST /api/x 5', 'other methods pass');
});

t.test('probability is per request: 2,000 keep-alive requests on one connection land in the binomial interval', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: flaky
      match: {listener: up, http: {paths: ["/p"]}}
      faults: [{type: http_abort, status: 500, probability: 0.3}]`);
  const agent = new Agent({ connections: 1, pipelining: 1 });
  t.teardown(() => agent.close());
  let failed = 0;
  for (let i = 0; i < 2000; i++) {
    const res = await request(`http://127.0.0.1:${port}/p`, { dispatcher: agent });
    await res.body.dump();
    if (res.statusCode === 500) failed++;
  }
  const [low, high] = binomialInterval(2000, 0.3);
  t.ok(failed >= low && failed <= high, `${failed} of 2000 aborted, within [${low}, ${high}]`);
});

t.test('http_delay (request and response phases) and http_throttle', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: slow-req
      match: {listener: up, http: {paths: ["/slow-req"]}}
      faults: [{type: http_delay, delay: 200ms}]
    - name: slow-res
      match: {listener: up, http: {paths: ["/slow-res"]}}
      faults: [{type: http_delay, delay: 150ms, phase: response}]
    - name: capped
      match: {listener: up, http: {paths: ["/big"]}}
      faults: [{type: http_throttle, rate: 100KiB/s}]`);
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const timed = async (path: string) => {
    const started = performance.now();
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { ms: performance.now() - started, body, res };
  };
  await timed('/warm');
  const fast = await timed('/fast');
  t.ok(fast.ms < 50, `unmatched request is fast (${fast.ms.toFixed(1)} ms)`);
  const req = await timed('/slow-req');
  t.ok(req.ms >= 199 && req.ms < 260, `request phase: ${req.ms.toFixed(1)} ms ≈ 200 ms`);
  const res = await timed('/slow-res');
  t.ok(res.ms >= 149 && res.ms < 210, `response phase: ${res.ms.toFixed(1)} ms ≈ 150 ms`);
  const big = await timed('/big?size=51200');
  t.ok(big.body.equals(bodyFor('/big', 51200)), 'throttled body intact');
  t.ok(big.ms >= 420 && big.ms < 650, `50 KiB at 100 KiB/s took ${big.ms.toFixed(0)} ms (≈ 500)`);
});

t.test('rate_limit in an L7 rule: requests per second with burst, the rest 429', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: limited
      match: {listener: up, protocol: http}
      faults: [{type: rate_limit, rate: 1, burst: 5}]`);
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const codes: number[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await request(`http://127.0.0.1:${port}/x`, { dispatcher: agent });
    if (res.statusCode === 429) t.equal(res.headers['x-faultline-fault'], 'limited/rate_limit');
    await res.body.dump();
    codes.push(res.statusCode);
  }
  t.same(codes, [200, 200, 200, 200, 200, 429, 429, 429]);
});

t.test('Envoy fault headers, only where the rule allows them, capped by the rule', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: envoy
      match: {listener: up, http: {paths: ["/e/*"]}}
      allowHeaderOverrides: true
      faults:
        - {type: http_abort, status: 503, probability: 0}
        - {type: http_delay, delay: 100ms, probability: 0}
    - name: strict
      match: {listener: up, http: {paths: ["/s/*"]}}
      faults: [{type: http_delay, delay: 1ms, probability: 0}]`);
  const get = async (path: string, headers: Record<string, string>) => {
    const started = performance.now();
    const res = await request(`http://127.0.0.1:${port}${path}`, { headers });
    await res.body.dump();
    return { status: res.statusCode, ms: performance.now() - started };
  };
  t.equal((await get('/e/1', {})).status, 200, 'no header, probability 0: nothing');
  t.equal((await get('/e/1', { 'x-envoy-fault-abort-request': '418', 'x-envoy-fault-abort-request-percentage': '100' })).status, 200, 'percentage capped by the rule (0)');
  t.equal((await get('/s/1', { 'x-envoy-fault-abort-request': '418' })).status, 200, 'a rule without allowHeaderOverrides ignores them');
});

t.test('Envoy headers select status and delay within the rule', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: envoy
      match: {listener: up, protocol: http}
      allowHeaderOverrides: true
      faults:
        - {type: http_abort, status: 503, probability: 0.5}
        - {type: http_delay, delay: 100ms, probability: 1}`);
  // An abort header at 0% turns the rule's abort off for this request, so the delay shows.
  const noAbort = { 'x-envoy-fault-abort-request': '418', 'x-envoy-fault-abort-request-percentage': '0' };
  let start = performance.now();
  let res = await request(`http://127.0.0.1:${port}/x`, { headers: { ...noAbort, 'x-envoy-fault-delay-request': '5000' } });
  await res.body.dump();
  const ms = performance.now() - start;
  t.equal(res.statusCode, 200);
  // 100% is capped at 0.5: count over several tries.
  let teapots = 0;
  for (let i = 0; i < 40; i++) {
    res = await request(`http://127.0.0.1:${port}/x`, { headers: { 'x-envoy-fault-abort-request': '418', 'x-envoy-fault-delay-request': '1' } });
    await res.body.dump();
    if (res.statusCode === 418) teapots++;
  }
  t.ok(teapots > 5 && teapots < 35, `${teapots} of 40 got the header's status 418 (rule probability 0.5)`);
  t.ok(ms >= 99 && ms < 170, `a 5000 ms header delay is capped at the rule's 100 ms (${ms.toFixed(0)} ms)`);
  start = performance.now();
  res = await request(`http://127.0.0.1:${port}/x`, { headers: { ...noAbort, 'x-envoy-fault-delay-request': '20' } });
  await res.body.dump();
  const short = performance.now() - start;
  t.ok(short >= 19 && short < 80, `a shorter header delay applies (${short.toFixed(0)} ms)`);
});
