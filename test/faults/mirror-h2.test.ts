import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { call, echoClient, echoService } from '../helpers/grpc.js';
import { h2Client, h2Upstream, httpUpstream } from '../helpers/http.js';
import { waitForCounts } from '../helpers/mirror.js';
import { startAdmin } from '../helpers/admin.js';

/** An echo gRPC server; `shadow` answers Other differently, and fails "missing" with NOT_FOUND. */
async function echoServer(t: Test, shadow: boolean): Promise<number> {
  const server = new grpc.Server();
  const say: grpc.handleUnaryCall<Buffer, Buffer> = (c, cb) => {
    if (shadow && c.request.toString() === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
    cb(null, Buffer.concat([Buffer.from('echo:'), c.request]));
  };
  const other: grpc.handleUnaryCall<Buffer, Buffer> = (c, cb) => cb(null, Buffer.concat([Buffer.from(shadow ? 'v2:' : 'echo:'), c.request]));
  server.addService(echoService, { Say: say, Other: other });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => void server.forceShutdown());
  return port;
}

t.test('gRPC unary: status, trailers and message bytes compared; drift detected; the client gets the primary answer', async (t) => {
  const primary = await echoServer(t, false);
  const shadow = await echoServer(t, true);
  const harness = await startAdmin(t, primary, `    - name: grpc-dr
      match: {listener: up, grpc: {methods: ["/test.Echo/*"]}}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", methods: ["/test.Echo/*"]}]`);
  const client = echoClient(t, harness.port);
  const answers: string[] = [];
  for (let i = 0; i < 30; i++) {
    for (const [method, payload] of [['Say', `hi ${i}`], ['Other', `o ${i}`], ['Say', 'missing']] as const) {
      const r = await call(client, method, payload);
      answers.push('ok' in r ? r.ok.toString() : `error ${r.code}`);
    }
  }
  t.equal(answers.filter((a, i) => a === (i % 3 === 0 ? `echo:hi ${i / 3}` : i % 3 === 1 ? `echo:o ${(i - 1) / 3}` : 'echo:missing')).length, 90, 'every call got the primary answer');
  const counts = await waitForCounts(harness.sidecar, 'grpc-dr', 90);
  t.same(counts, { match: 30, drift: 60, shadow_error: 0, skipped: 0 }, 'Say matches; Other (message bytes) and the NOT_FOUND (grpc-status trailer) drift');
  const { json } = await harness.call('GET', '/mirror');
  const missing = json.drifts.find((d: { differences: { where: string }[] }) => d.differences.some((x) => x.where === 'grpc-status'));
  t.match(missing, { protocol: 'grpc', method: 'POST', path: '/test.Echo/Say', status: { primary: 200, shadow: 200 } });
  t.match(missing.differences, [{ kind: 'trailer', where: 'grpc-status', primary: '0', shadow: '5' }, { kind: 'trailer', where: 'grpc-message', shadow: 'no such thing' }, { kind: 'body', where: 'body' }]);
  const other = json.drifts.find((d: { path: string }) => d.path === '/test.Echo/Other');
  t.match(other.differences, [{ kind: 'body', where: 'body' }], 'the message bytes differ');
  t.notOk(other.differences.some((d: { kind: string }) => d.kind === 'trailer'), 'same status and trailers');
});

t.test('gRPC calls are POSTs: not mirrored unless listed', async (t) => {
  const primary = await echoServer(t, false);
  const shadow = await echoServer(t, true);
  const harness = await startAdmin(t, primary, `    - name: reads-only
      match: {listener: up, protocol: grpc}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}"}]
    - name: other-only
      match: {listener: up, grpc: {methods: ["/test.Echo/Other"]}}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", methods: ["/test.Echo/Oth*"]}]`);
  const client = echoClient(t, harness.port);
  for (let i = 0; i < 5; i++) await call(client, 'Say', 'x');
  for (let i = 0; i < 5; i++) await call(client, 'Other', 'x');
  t.same(await waitForCounts(harness.sidecar, 'other-only', 5), { match: 0, drift: 5, shadow_error: 0, skipped: 0 }, 'a listed method glob is mirrored');
  t.same(await waitForCounts(harness.sidecar, 'reads-only', 1, 300), { match: 0, drift: 0, shadow_error: 0, skipped: 0 }, 'the default methods copy no gRPC call');
});

t.test('HTTP/2 (h2c) requests are mirrored to an HTTP/1.1 shadow and compared', async (t) => {
  const { port: primary } = await h2Upstream(t);
  const { port: shadow } = await httpUpstream(t, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('x-upstream', 'yes');
    res.end(path === '/changed' ? 'something else' : `${req.method} ${path}`);
  });
  const harness = await startAdmin(t, primary, `    - name: h2-dr
      match: {listener: up, protocol: http}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", compare: {headers: [x-upstream]}}]`);
  const client = h2Client(t, harness.port);
  for (let i = 0; i < 10; i++) t.equal(await client.get(`/same/${i}`), 200);
  for (let i = 0; i < 5; i++) await client.get('/changed');
  t.same(await waitForCounts(harness.sidecar, 'h2-dr', 15), { match: 10, drift: 5, shadow_error: 0, skipped: 0 });
  const { json } = await harness.call('GET', '/mirror?limit=1');
  t.equal(json.drifts.length, 1, 'limit');
  t.match(json.drifts[0], { protocol: 'http', method: 'GET', path: '/changed', differences: [{ kind: 'body', primary: '{"bytes":12,"firstDifferingByte":0}' }] });
});
