import { execFile } from 'node:child_process';
import { connect } from 'node:http2';
import t from 'tap';
import { dial, collect, waitFor } from '../helpers/net.js';
import { bodyFor, h2Client, h2Upstream } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';

function get(session: ReturnType<typeof connect>, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end();
  });
}

t.test('h2c: faults per stream, other streams on the same connection untouched', async (t) => {
  const { port: up } = await h2Upstream(t);
  const { port } = await startSidecar(t, up, `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`);
  const session = connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  const [a, b, c] = await Promise.all([get(session, '/big?size=200000'), get(session, '/fail'), get(session, '/other')]);
  t.equal(a?.status, 200);
  t.ok(a?.body.equals(bodyFor('/big', 200_000)), 'a large unmatched stream is byte-identical');
  t.equal(b?.status, 503);
  t.equal(b?.headers['x-faultline-fault'], 'h2-fail/http_abort');
  t.match(JSON.parse(String(b?.body)), { error: 'fault_injected', code: 503 });
  t.equal(String(c?.body), 'GET /other');
});

t.test('curl --http2-prior-knowledge through the sidecar', async (t) => {
  const { port: up } = await h2Upstream(t);
  const { port } = await startSidecar(t, up, `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 418}]`);
  const curl = (path: string) =>
    new Promise<string>((resolve) => execFile('curl', ['-s', '--http2-prior-knowledge', '-w', '|%{http_code}|%{http_version}', `http://127.0.0.1:${port}${path}`], (_e, out) => resolve(out)));
  t.equal(await curl('/hello'), 'GET /hello|200|2');
  t.match(await curl('/fail'), /"code":418.*\|418\|2$/);
});

t.test('invalid HTTP/2 frames end that connection only', async (t) => {
  const { port: up } = await h2Upstream(t);
  const { port } = await startSidecar(t, up, `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`);
  const good = connect(`http://127.0.0.1:${port}`);
  t.teardown(() => good.close());
  t.equal((await get(good, '/a')).status, 200);
  const bad = await dial(t, port);
  const outcome = collect(bad);
  // The preface, then a frame of an absurd length and unknown flags on stream 0.
  bad.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0x01, 0xff, 0, 0, 0, 1]), Buffer.alloc(64, 0xaa)]));
  const seen = await outcome;
  // The server's SETTINGS, then GOAWAY (type 7) with an error code (nghttp2 says INTERNAL_ERROR), then the close.
  const goaway = findFrame(seen.data, 7);
  t.ok(goaway && goaway.readUInt32BE(4) !== 0, `GOAWAY with an error code (${goaway?.readUInt32BE(4)})`);
  t.ok(seen.ms < 2000, `the bad connection was closed (${seen.ending})`);
  t.equal((await get(good, '/b')).status, 200, 'the good connection still works');
});

/** The payload of the first frame of `type` in a server's byte stream (after no preface). */
function findFrame(data: Buffer, type: number): Buffer | undefined {
  let p = 0;
  while (p + 9 <= data.length) {
    const length = data.readUIntBE(p, 3);
    if (data[p + 3] === type) return data.subarray(p + 9, p + 9 + length);
    p += 9 + length;
  }
  return undefined;
}

t.test('an HTTP/2 server that sends SETTINGS before the client speaks is still inspected', async (t) => {
  const { port: up } = await h2Upstream(t);
  const { port } = await startSidecar(t, up, `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`);
  // Connect, let the upstream's SETTINGS arrive first, then start HTTP/2 on the same socket.
  const socket = await dial(t, port);
  await new Promise((r) => setTimeout(r, 100));
  const session = connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
  t.teardown(() => session.close());
  t.equal((await get(session, '/fail')).status, 503);
  t.equal(String((await get(session, '/ok')).body), 'GET /ok');
});

t.test('connection faults apply to an inspected h2c connection, new or live', async (t) => {
  const { port: up } = await h2Upstream(t);
  const l7 = `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`;
  const slow = `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 150ms}]`;
  const { sidecar, port, write } = await startSidecar(t, up, `${l7}\n${slow}`);
  const timed = async (session: ReturnType<typeof connect>, path: string) => {
    const started = performance.now();
    const res = await get(session, path);
    return { ms: performance.now() - started, res };
  };
  const session = connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  await timed(session, '/warm');
  const delayed = await timed(session, '/a');
  t.equal(String(delayed.res.body), 'GET /a');
  t.ok(delayed.ms >= 140 && delayed.ms < 450, `a stream on a connection under latency took ${delayed.ms.toFixed(0)} ms (≈ 150)`);
  t.equal((await get(session, '/fail')).status, 503, 'the L7 rule still answers on the same connection');
  // The latency rule goes away, then comes back: the live connection follows.
  write(l7);
  await sidecar.settled();
  t.ok(await waitFor(() => sidecar.policy.rules.length === 1, 3000));
  const fast = await timed(session, '/b');
  t.ok(fast.ms < 100, `without the rule: ${fast.ms.toFixed(0)} ms`);
  write(`${l7}\n${slow}`);
  t.ok(await waitFor(() => sidecar.policy.rules.length === 2, 3000));
  const again = await timed(session, '/c');
  t.ok(again.ms >= 140 && again.ms < 450, `latency added to the live h2c connection: ${again.ms.toFixed(0)} ms`);
});

t.test('an upstream GOAWAY reaches the client as a graceful GOAWAY: a reconnecting client sees no error', async (t) => {
  const { createServer } = await import('node:http2');
  const server = createServer();
  let served = 0;
  server.on('stream', (stream: import('node:http2').ServerHttp2Stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`ok ${headers[':path']}`);
    // Every upstream connection serves one stream, then says it is going away.
    if (++served > 0) stream.session?.goaway();
  });
  const upstreamSessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => (upstreamSessions.add(s), s.once('close', () => upstreamSessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of upstreamSessions) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port: up } = server.address() as { port: number };
  const { sidecar, port } = await startSidecar(t, up, `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`);
  const client = h2Client(t, port);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    statuses.push(await client.get(`/n${i}`));
    await new Promise((r) => setTimeout(r, 30));
  }
  t.same(statuses, [200, 200, 200, 200], 'every request answered');
  t.ok(client.sessions() >= 2, `the client moved to new connections (${client.sessions()} sessions)`);
  // (A node:http2 server that sent GOAWAY keeps its own session until it ends it: that is the test server's, not ours.)
  t.ok(await waitFor(() => sidecar.connections.size <= 1, 2000), `the connections left behind are closed, both sockets (${sidecar.connections.size} left)`);
});
