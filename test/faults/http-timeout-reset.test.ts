import { connect, createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startSidecar } from '../helpers/sidecar.js';

t.test('h2c: http_reset resets only its stream; http_timeout answers 504 after the timeout', async (t) => {
  const server: Http2Server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`ok ${headers[':path']}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = await startSidecar(t, (server.address() as AddressInfo).port, `    - name: resets
      match: {listener: up, http: {paths: ["/reset"]}}
      faults: [{type: http_reset}]
    - name: slow
      match: {listener: up, http: {paths: ["/timeout"]}}
      faults: [{type: http_timeout, timeout: 150ms}]`);
  const session = connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  const call = (path: string) =>
    new Promise<{ status?: number; body: string; error?: string; ms: number }>((resolve) => {
      const started = performance.now();
      const req = session.request({ ':path': path });
      let status: number | undefined;
      let body = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => resolve({ status, body, ms: performance.now() - started }));
      req.on('error', (err: Error & { code?: string }) => resolve({ body, error: err.code ?? err.message, ms: performance.now() - started }));
      req.end();
    });
  const [reset, timedOut, fine] = await Promise.all([call('/reset'), call('/timeout'), call('/other')]);
  t.match(reset.error, /ERR_HTTP2_STREAM_ERROR/, `the stream was reset (${reset.error})`);
  t.equal(timedOut.status, 504);
  t.match(JSON.parse(timedOut.body), { error: 'fault_injected', fault: 'http_timeout', code: 504 });
  t.ok(timedOut.ms >= 140, `after the timeout (${timedOut.ms.toFixed(0)} ms)`);
  t.equal(fine.body, 'ok /other', 'other streams on the connection are untouched');
});
