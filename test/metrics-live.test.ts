import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { Metrics } from '../src/metrics.js';
import { createMetricsServer } from '../src/metrics-server.js';
import { Sidecar } from '../src/sidecar.js';
import { serve } from './helpers/admin.js';
import { httpUpstream } from './helpers/http.js';
import { dial, echoServer, exchange, roundTrip, waitFor } from './helpers/net.js';

/** A sidecar with the full registry (process metrics too), its /metrics, and helpers to read samples. */
async function metricsSidecar(t: Test) {
  const { port: echo } = await echoServer(t);
  const { port: web } = await httpUpstream(t);
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics() });
  await sidecar.start();
  t.teardown(() => sidecar.drain(100));
  const base = await serve(t, createMetricsServer(sidecar.metrics, () => true));
  const text = async () => (await request(`${base}/metrics`)).body.text();
  const sample = async (name: string) => {
    const line = (await text()).split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const listeners = [
    { name: 'up', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` },
    { name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${web}` },
  ];
  return { sidecar, text, sample, listeners };
}

const UP = 'listener="up",direction="outbound"';

t.test('bytes_total moves while a connection lives, and never goes back when it closes', async (t) => {
  const { sidecar, sample, listeners } = await metricsSidecar(t);
  await sidecar.setOverlay({ listeners, rules: [] });
  const socket = await dial(t, sidecar.address('up').port);
  await roundTrip(socket, 1000);
  t.equal(await sample(`faultline_bytes_total{${UP},stream="upstream"}`), 1000, 'the open connection counts at once');
  t.equal(await sample(`faultline_bytes_total{${UP},stream="downstream"}`), 1000);
  await roundTrip(socket, 500);
  t.equal(await sample(`faultline_bytes_total{${UP},stream="upstream"}`), 1500, 'and keeps moving');
  socket.end();
  t.ok(await waitFor(() => sidecar.connections.size === 0));
  t.equal(await sample(`faultline_bytes_total{${UP},stream="upstream"}`), 1500, 'closing moves its bytes, it does not count them twice');
  await exchange(t, sidecar.address('up').port, 'hello');
  t.equal(await sample(`faultline_bytes_total{${UP},stream="downstream"}`), 1505);
});

t.test('no stale series: faults_active and per-rule counters of rules that are gone', async (t) => {
  const { sidecar, text, sample, listeners } = await metricsSidecar(t);
  const rule = (name: string) => ({ name, match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1 }] });
  await sidecar.setOverlay({ listeners, rules: [rule('exp.a.slow'), rule('kept')] });
  const socket = await dial(t, sidecar.address('up').port);
  await roundTrip(socket, 10);
  t.equal(await sample('faultline_faults_active{rule="exp.a.slow",fault="latency"}'), 1);
  t.equal(await sample(`faultline_faults_injected_total{rule="exp.a.slow",fault="latency",${UP}}`), 1);
  await sidecar.setOverlay({ listeners, rules: [rule('kept')] });
  t.ok(await waitFor(async () => !(await text()).includes('rule="exp.a.slow"')), 'the removed rule leaves no series, live connection or not');
  t.equal(await sample('faultline_faults_active{rule="kept",fault="latency"}'), 1, 'the kept rule still applies to the live connection');
  socket.destroy();
  t.ok(await waitFor(() => sidecar.connections.size === 0));
  t.notMatch(await text(), /faultline_faults_active\{/, 'a fault on no connection has no faults_active series (not a 0 kept forever)');
  t.equal(await sample(`faultline_faults_injected_total{rule="kept",fault="latency",${UP}}`), 1, 'counters of rules in force stay');
});

/** promtool from Debian's prometheus package: on PATH, or where .ci/run unpacks it (FAULTLINE_PROMTOOL). */
function promtool(): string | undefined {
  const candidates = [process.env.FAULTLINE_PROMTOOL, '/opt/promtool/usr/bin/promtool', '/usr/bin/promtool'].filter((p): p is string => p !== undefined);
  return candidates.find((p) => existsSync(p));
}

const PROMTOOL = promtool();
// Never skipped under CI, which unpacks it.
const needsPromtool = { skip: PROMTOOL !== undefined || process.env.CI === 'true' ? false : 'no promtool: apt-get download prometheus && dpkg -x prometheus_*.deb /opt/promtool (or FAULTLINE_PROMTOOL=PATH)' };

t.test('promtool check metrics passes on the live /metrics, after traffic of every kind', needsPromtool, async (t) => {
  const binary = PROMTOOL;
  if (binary === undefined) return void t.fail('promtool is missing: .ci/run unpacks it from Debian\'s prometheus package');
  const { sidecar, text, listeners } = await metricsSidecar(t);
  await sidecar.setOverlay({
    listeners,
    rules: [
      { name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1 }] },
      { name: 'abort', match: { listener: 'web', protocol: 'http', http: { paths: ['/api/*'] } }, faults: [{ type: 'http_abort', status: 503 }] },
    ],
  });
  await exchange(t, sidecar.address('up').port, 'hello');
  const agent = new Agent({ connections: 1 });
  for (const path of ['/api/a', '/ok']) await (await request(`http://127.0.0.1:${sidecar.address('web').port}${path}`, { dispatcher: agent })).body.dump();
  await agent.close();
  const body = await text();
  t.match(body, /^faultline_build_info\{version="[^"]+",nodejs_version="v[\d.]+"\} 1$/m);
  t.match(body, /^process_cpu_seconds_total \d/m, 'the standard process metrics, unprefixed');
  t.match(body, /^nodejs_heap_size_used_bytes \d/m);
  const result = spawnSync(binary, ['check', 'metrics'], { input: body, encoding: 'utf8' });
  t.equal(result.status, 0, `promtool: ${result.stdout}${result.stderr}`);
  t.equal(`${result.stdout}${result.stderr}`.trim(), '', 'and no lint remark');
});

// ---- The Grafana dashboard: every query names metrics (and labels) the sidecar exports. ----

const TARGET_LABELS = new Set(['job', 'namespace', 'pod', 'instance', 'le']);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names and label names a PromQL expression uses. */
function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  const labels: string[] = [];
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\$\{?\w+\}?/g, ' ');
  rest = rest.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const m of inner.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/g)) labels.push(m[1] as string);
    return ' ';
  });
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, inner: string) => {
    labels.push(...inner.split(',').map((s) => s.trim()).filter(Boolean));
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  const metrics = [...rest.matchAll(/([a-zA-Z_:][\w:]*)\s*(\()?/g)].filter((m) => m[2] === undefined && !KEYWORDS.has((m[1] as string).toLowerCase())).map((m) => m[1] as string);
  return { metrics, labels };
}

t.test('promqlNames reads metric and label names (the dashboard check can fail)', async (t) => {
  t.same(promqlNames('sum by (rule, fault) (rate(faultline_faults_injected_total{job=~"$job", faulted="true"}[$__rate_interval])) / sum(up)'), {
    metrics: ['faultline_faults_injected_total', 'up'],
    labels: ['job', 'faulted', 'rule', 'fault'],
  });
  t.same(promqlNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))').metrics, ['x_bucket']);
});

t.test('the Grafana dashboard queries only metrics and labels the sidecar exports', async (t) => {
  const dashboard = JSON.parse(readFileSync(new URL('../dashboards/faultline.json', import.meta.url), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { name: string; query?: string | { query: string } }[] };
    annotations: { list: { expr?: string }[] };
  };
  const metrics = new Metrics();
  const exported = new Map<string, Set<string>>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set((metrics.registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames);
    const names = String(metric.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => metric.name + s) : [metric.name];
    for (const name of names) exported.set(name, labels);
  }
  const exprs: [string, string][] = [
    ...dashboard.panels.flatMap((p) => p.targets.map((q) => [p.title, q.expr] as [string, string])),
    ...dashboard.annotations.list.filter((a) => a.expr).map((a) => ['annotation', a.expr as string] as [string, string]),
    ...dashboard.templating.list
      .map((v) => (typeof v.query === 'object' ? v.query.query : v.query))
      .filter((q): q is string => typeof q === 'string' && q.startsWith('label_values('))
      .map((q) => ['variable', q.replace(/^label_values\((.*),\s*\w+\)$/, '$1')] as [string, string]),
  ];
  t.ok(exprs.length >= 20, `${exprs.length} queries`);
  const used = new Set<string>();
  for (const [where, expr] of exprs) {
    const { metrics: names, labels } = promqlNames(expr);
    t.ok(names.length > 0, `${where}: ${expr} names a metric`);
    for (const name of names) {
      used.add(name);
      t.ok(exported.has(name), `${where}: ${name} is exported`);
    }
    const known = new Set([...TARGET_LABELS, ...names.flatMap((n) => [...(exported.get(n) ?? [])])]);
    for (const label of labels) t.ok(known.has(label), `${where}: label ${label} is on ${names.join(', ')}`);
  }
  for (const family of ['faultline_connections_active', 'faultline_bytes_total', 'faultline_faults_injected_total', 'faultline_faults_active', 'faultline_http_requests_total', 'faultline_policy_reloads_total', 'faultline_interception_rules']) {
    t.ok(used.has(family), `the dashboard shows ${family}`);
  }
});
