import t from 'tap';
import { Pool } from 'undici';
import { call, echoClient, grpcUpstream } from '../helpers/grpc.js';
import { h2Client, h2Upstream, httpUpstream } from '../helpers/http.js';
import { sleep, waitFor } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

const RULES = `    - name: fail
      match: {http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]
    - name: deny-say
      match: {grpc: {methods: ["/test.Echo/Say"]}}
      faults: [{type: http_abort, grpcStatus: 14, grpcMessage: "denied"}]`;

/** Statuses of `send` every 50 ms for `ms`, and the errors it threw. */
async function poll<T>(send: () => Promise<T>, ms: number): Promise<{ results: T[]; errors: string[] }> {
  const results: T[] = [];
  const errors: string[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    try {
      results.push(await send());
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { results, errors };
}

t.test('an L7 rule added while a keep-alive pool, an h2c session and a gRPC channel are open reaches their next requests, with no client error', async (t) => {
  const { port: httpUp } = await httpUpstream(t);
  const { port: h2Up } = await h2Upstream(t);
  const grpcUp = await grpcUpstream(t);
  const { sidecar, port, write } = await startSidecar(t, httpUp, undefined, {
    extraListeners: [`{name: h2, listen: "127.0.0.1:0", upstream: "127.0.0.1:${h2Up}"}`, `{name: grpc, listen: "127.0.0.1:0", upstream: "127.0.0.1:${grpcUp}"}`],
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2, keepAliveTimeout: 60_000 });
  t.teardown(() => pool.close());
  const http1 = async (path: string) => (await pool.request({ path, method: 'GET' }).then(async (r) => (await r.body.text(), r.statusCode)));
  const h2 = h2Client(t, sidecar.address('h2').port);
  const grpc = echoClient(t, sidecar.address('grpc').port);
  // Open the connections while no L7 rule exists: they are plain pipes.
  t.same(await Promise.all([http1('/fail'), http1('/fail')]), [200, 200]);
  t.equal(await h2.get('/fail'), 200);
  t.same(await call(grpc, 'Say', 'a'), { ok: Buffer.from('echo:a') });
  const before = sidecar.connections.size;
  t.equal(before, 4, 'two pooled HTTP/1.1 connections, one h2c, one gRPC');

  write(RULES);
  t.ok(await waitFor(() => sidecar.policy.rules.length === 2, 3000), 'the rule is in force');
  const changedAt = Date.now();
  const [a, b, c] = await Promise.all([poll(() => http1('/fail'), 1000), poll(() => h2.get('/fail'), 1000), poll(() => call(grpc, 'Say', 'b'), 1000)]);
  t.same([...a.errors, ...b.errors, ...c.errors], [], 'no client saw an error');
  t.equal(a.results.at(-1), 503, 'the keep-alive pool gets the fault');
  t.equal(b.results.at(-1), 503, 'the h2c client gets the fault');
  t.same(c.results.at(-1), { code: 14, details: 'denied' }, 'the gRPC channel gets the fault');
  // Each client's first faulted answer: within its first few requests after the change (about 50 ms apart).
  const first = [a.results.indexOf(503), b.results.indexOf(503), c.results.findIndex((r) => 'code' in r)];
  t.ok(first.every((i) => i >= 0 && i <= 3), `faulted from requests ${first.map((i) => i + 1).join(', ')} (HTTP/1.1, h2c, gRPC)`);
  t.ok(Date.now() - changedAt < 3000);
  t.equal(h2.sessions(), 2, 'the h2c client reconnected once (GOAWAY)');
});

t.test('pooledConnections: leave keeps existing plain pipes as they are', async (t) => {
  const { port: httpUp } = await httpUpstream(t);
  const { sidecar, port, write } = await startSidecar(t, httpUp);
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, keepAliveTimeout: 60_000 });
  t.teardown(() => pool.close());
  const http1 = async (path: string) => (await pool.request({ path, method: 'GET' }).then(async (r) => (await r.body.text(), r.statusCode)));
  t.equal(await http1('/fail'), 200);
  write(`    - name: fail
      match: {http: {paths: ["/fail"]}}
      pooledConnections: leave
      faults: [{type: http_abort, status: 503}]`);
  t.ok(await waitFor(() => sidecar.policy.rules.length === 1, 3000));
  const { results } = await poll(() => http1('/fail'), 500);
  t.ok(results.length > 3 && results.every((s) => s === 200), 'the pooled connection is left alone');
  t.equal(sidecar.connections.size, 1);
});
