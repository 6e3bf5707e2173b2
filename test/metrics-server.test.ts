import t from 'tap';
import { request } from 'undici';
import { Metrics } from '../src/metrics.js';
import { createMetricsServer } from '../src/metrics-server.js';
import { echoServer, exchange } from './helpers/net.js';
import { startSidecar } from './helpers/sidecar.js';

t.test('/metrics, /healthz and /readyz', async (t) => {
  const { port: echo } = await echoServer(t);
  const { sidecar, port } = await startSidecar(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`);
  let ready = false;
  const server = createMetricsServer(sidecar.metrics, () => ready);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const get = async (path: string, method = 'GET') => {
    const res = await request(`${base}${path}`, { method });
    return { status: res.statusCode, text: await res.body.text() };
  };

  for (let i = 0; i < 3; i++) await exchange(t, port, 'hello');
  await new Promise((r) => setTimeout(r, 50));
  const metrics = await get('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.text, /faultline_connections_total\{listener="up",direction="outbound"\} 3/);
  t.match(metrics.text, /faultline_faults_injected_total\{rule="slow",fault="latency",listener="up",direction="outbound"\} 3/);
  t.match(metrics.text, /faultline_bytes_total\{listener="up",direction="outbound",stream="upstream"\} 15/);
  t.match(metrics.text, /faultline_policy_info\{name="test",hash="[0-9a-f]{16}"\} 1/);
  t.match(metrics.text, /faultline_connections_active\{listener="up",direction="outbound"\} 0/);
  t.equal((await get('/healthz')).status, 200);
  t.equal((await get('/readyz')).status, 503, 'not ready until the policy is loaded and listeners bound');
  ready = true;
  t.equal((await get('/readyz')).status, 200);
  t.equal((await get('/nope')).status, 404);
  t.equal((await get('/metrics', 'POST')).status, 405);
  t.ok(new Metrics().registry.getSingleMetric('process_cpu_seconds_total'), 'Node process metrics are there too');
});
