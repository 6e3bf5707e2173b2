import t from 'tap';
import { startSidecar } from '../helpers/sidecar.js';
import { call, echoClient, grpcUpstream } from '../helpers/grpc.js';

t.test('gRPC abort gives the exact status and message; other methods on the same connection pass', async (t) => {
  const up = await grpcUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: deny-say
      match: {listener: up, grpc: {methods: ["/test.Echo/Say"]}}
      faults: [{type: http_abort, grpcStatus: 14, grpcMessage: "try later, über"}]`);
  const client = echoClient(t, port);
  const other = await call(client, 'Other', 'hi');
  t.same(other, { ok: Buffer.from('echo:hi') }, 'unmatched method is answered by the upstream');
  const said = await call(client, 'Say', 'hi');
  t.same(said, { code: 14, details: 'try later, über' });
  const again = await call(client, 'Other', 'x'.repeat(100_000));
  t.ok('ok' in again && again.ok.equals(Buffer.from(`echo:${'x'.repeat(100_000)}`)), 'a large unmatched call is intact');
});

t.test('gRPC rate_limit answers RESOURCE_EXHAUSTED; http_delay delays the call', async (t) => {
  const up = await grpcUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: limited
      match: {listener: up, protocol: grpc, grpc: {methods: ["/test.Echo/Say"]}}
      faults: [{type: rate_limit, rate: 0.001, burst: 2}]
    - name: slow
      match: {listener: up, grpc: {methods: ["/test.Echo/Other"]}}
      faults: [{type: http_delay, delay: 150ms}]`);
  const client = echoClient(t, port);
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await call(client, 'Say', 'a'));
  t.same(results.map((r) => ('ok' in r ? 0 : r.code)), [0, 0, 8, 8]);
  const started = performance.now();
  t.same(await call(client, 'Other', 'b'), { ok: Buffer.from('echo:b') });
  const ms = performance.now() - started;
  t.ok(ms >= 149 && ms < 230, `delayed call took ${ms.toFixed(0)} ms (≈ 150)`);
});
