import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { Agent, request } from 'undici';
import { Metrics } from '../src/metrics.js';
import { VERSION } from '../src/version.js';
import { createMetricsServer } from '../src/metrics-server.js';
import { Sidecar } from '../src/sidecar.js';
import { serve } from './helpers/admin.js';
import { httpUpstream } from './helpers/http.js';
import { dial, echoServer, exchange, roundTrip, waitFor } from './helpers/net.js';
import { policyText, tempDir } from './helpers/sidecar.js';

/** Scrapes `/metrics` into "name{labels}" → value. */
async function scrape(base: string): Promise<Map<string, number>> {
  const text = await (await request(`${base}/metrics`)).body.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

t.test('scripted traffic, then exact counter values from /metrics', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port: web } = await httpUpstream(t);
  const file = join(tempDir(t), 'policy.yaml');
  const rules = `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]
    - name: closed
      match: {listener: shut}
      faults: [{type: refuse}]
    - name: fail-api
      match: {listener: web, protocol: http, http: {paths: ["/api/*"]}}
      faults: [{type: http_abort, status: 503}]`;
  const listeners = [
    `{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`,
    `{name: shut, listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo}"}`,
    `{name: web, listen: "127.0.0.1:0", upstream: "127.0.0.1:${web}"}`,
  ];
  writeFileSync(file, policyText({ listeners, rules }));
  const sidecar = new Sidecar({ policyFile: file, pollIntervalMs: 50, log: pino({ level: 'silent' }), metrics: new Metrics() });
  let ready = false;
  const base = await serve(t, createMetricsServer(sidecar.metrics, () => ready));
  t.equal((await request(`${base}/readyz`)).statusCode, 503, 'not ready before the policy is loaded');
  await sidecar.start();
  ready = sidecar.ready;
  t.teardown(() => sidecar.drain(100));
  t.equal((await request(`${base}/readyz`)).statusCode, 200, 'ready once it is loaded and every listener bound');
  t.equal((await request(`${base}/healthz`)).statusCode, 200);

  // The script: 3 echo exchanges of 5 bytes through the latency rule, 2 refused connections,
  // 3 HTTP requests (1 aborted), a bad reload and a good one, and one connection left open.
  for (let i = 0; i < 3; i++) t.equal((await exchange(t, sidecar.address('up').port, 'hello')).data.toString(), 'hello');
  for (let i = 0; i < 2; i++) t.equal((await exchange(t, sidecar.address('shut').port, 'x', { keepOpen: true })).ending, 'ECONNRESET');
  const agent = new Agent({ connections: 1 });
  for (const path of ['/api/a', '/ok', '/ok']) await (await request(`http://127.0.0.1:${sidecar.address('web').port}${path}`, { dispatcher: agent })).body.dump();
  await agent.close();
  const hash = sidecar.policy.hash;
  writeFileSync(file, 'spec: [');
  t.ok(await waitFor(() => sidecar.lastError !== undefined), 'the bad policy was refused');
  writeFileSync(file, policyText({ listeners, rules: rules.replace('1ms', '2ms') }));
  t.ok(await waitFor(() => sidecar.policy.hash !== hash && sidecar.lastError === undefined), 'the good one applied');
  const open = await dial(t, sidecar.address('up').port);
  await roundTrip(open, 7);
  t.ok(await waitFor(() => sidecar.connections.size === 1), 'only the open connection is left');

  const m = await scrape(base);
  const up = 'listener="up",direction="outbound"';
  const expected: Record<string, number> = {
    [`faultline_connections_total{${up}}`]: 4,
    'faultline_connections_total{listener="shut",direction="outbound"}': 2,
    'faultline_connections_total{listener="web",direction="outbound"}': 1,
    [`faultline_connections_active{${up}}`]: 1,
    'faultline_connections_active{listener="shut",direction="outbound"}': 0,
    'faultline_connections_active{listener="web",direction="outbound"}': 0,
    [`faultline_connection_duration_seconds_count{${up}}`]: 3,
    'faultline_connection_duration_seconds_count{listener="shut",direction="outbound"}': 2,
    // 3 closed connections of 5 bytes each way, and the open one's 7 so far.
    [`faultline_bytes_total{${up},stream="upstream"}`]: 22,
    [`faultline_bytes_total{${up},stream="downstream"}`]: 22,
    'faultline_bytes_total{listener="shut",direction="outbound",stream="upstream"}': 0,
    [`faultline_faults_injected_total{rule="slow",fault="latency",${up}}`]: 4,
    'faultline_faults_injected_total{rule="closed",fault="refuse",listener="shut",direction="outbound"}': 2,
    'faultline_faults_injected_total{rule="fail-api",fault="http_abort",listener="web",direction="outbound"}': 1,
    'faultline_faults_active{rule="slow",fault="latency"}': 1,
    'faultline_policy_reloads_total{result="success"}': 2,
    'faultline_policy_reloads_total{result="error"}': 1,
    [`faultline_policy_info{name="test",hash="${sidecar.policy.hash}"}`]: 1,
    // On-demand interception (counted by src/interception/on-demand.ts): none here.
    faultline_interception_rules: 0,
    'faultline_http_requests_total{listener="web",direction="outbound",code="200",faulted="false"}': 2,
  };
  for (const [sample, value] of Object.entries(expected)) t.equal(m.get(sample), value, sample);
  const aborted = 'faultline_http_requests_total{listener="web",direction="outbound",code="503",faulted="true"}';
  t.equal(m.get(aborted), 1, aborted);
  t.notOk([...m.keys()].some((k) => k.startsWith('faultline_policy_info') && k.includes(hash)), 'only the policy in force is in policy_info');
  t.ok(m.has('process_cpu_user_seconds_total'), 'Node process metrics too, under their standard names');
  t.ok([...m.keys()].some((k) => k.startsWith('nodejs_heap_size_used_bytes')));
  t.notOk([...m.keys()].some((k) => k.startsWith('faultline_process_') || k.startsWith('faultline_nodejs_')), 'not under our prefix');
  t.equal(m.get(`faultline_build_info{version="${VERSION}",nodejs_version="${process.version}"}`), 1);
});

t.test('metrics off: nothing is recorded and the proxy works the same', async (t) => {
  const { port: echo } = await echoServer(t);
  const metrics = new Metrics({ enabled: false });
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics });
  await sidecar.start();
  t.teardown(() => sidecar.drain(100));
  await sidecar.setOverlay({ listeners: [{ name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }], rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1 }] }] });
  t.equal((await exchange(t, sidecar.address('up').port, 'hello')).data.toString(), 'hello');
  t.equal(await metrics.registry.metrics(), '\n', 'an empty registry');
  t.same(await metrics.faultsInjected.get(), { values: [] });
  metrics.connectionsActive.labels({ listener: 'x', direction: 'inbound' }).inc();
});

t.test('connection_duration_seconds from the tallies: the same exposition as prom-client\'s own Histogram fed the same lifetimes', async (t) => {
  const { Histogram, Registry } = await import('prom-client');
  const metrics = new Metrics({ processMetrics: false });
  const reference = new Registry();
  const histogram = new Histogram({ name: 'faultline_connection_duration_seconds', help: 'Connection lifetime', labelNames: ['listener', 'direction'], buckets: [0.005, 0.05, 0.25, 1, 5, 30, 120, 600, 3600], registers: [reference] });
  // Bounds are inclusive (le); 7,200 s is above them all; a listener with no closed connection has no series.
  const lifetimes: [string, string, number][] = [['web', 'inbound', 0.001], ['web', 'inbound', 0.05], ['web', 'inbound', 0.0500001], ['web', 'inbound', 2], ['db', 'outbound', 7200], ['db', 'outbound', 0]];
  const client = { bytesRead: 0, bytesWritten: 0 };
  metrics.connectionTally('idle', 'outbound').open(client);
  for (const [listener, direction, seconds] of lifetimes) {
    const tally = metrics.connectionTally(listener, direction);
    tally.open(client);
    tally.close(client, seconds);
    histogram.observe({ listener, direction }, seconds);
  }
  const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('faultline_connection_duration_seconds'));
  const ours = lines(await metrics.registry.metrics());
  t.same(ours, lines(await reference.metrics()), 'the same lines, in the same order');
  t.ok(ours.includes('faultline_connection_duration_seconds_bucket{le="0.05",listener="web",direction="inbound"} 2'), '0.05 s counts in le="0.05"');
  t.ok(ours.includes('faultline_connection_duration_seconds_bucket{le="+Inf",listener="db",direction="outbound"} 2'));
  t.notOk(ours.some((l) => l.includes('listener="idle"')), 'no series before a connection closed');
  const json = (await metrics.connectionDuration.get()).values.find((v) => v.metricName === 'faultline_connection_duration_seconds_sum' && v.labels.listener === 'web');
  t.match(json, { value: 2.1010001, labels: { listener: 'web', direction: 'inbound' } }, 'get() gives each sample its labels whole, as prom-client does');
});
