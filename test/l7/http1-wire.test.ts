import { execFile } from 'node:child_process';
import t from 'tap';
import { collect, dial, tcpServer } from '../helpers/net.js';
import { httpUpstream } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';

const ABORT_RULE = `    - name: fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]`;

/** Sends raw bytes on a fresh connection, half-closes, and returns everything that came back. */
async function raw(t: Parameters<typeof dial>[0], port: number, bytes: string | Buffer, keepOpenMs = 0): Promise<string> {
  const socket = await dial(t, port);
  const outcome = collect(socket);
  socket.write(bytes);
  if (keepOpenMs) setTimeout(() => socket.end(), keepOpenMs);
  else socket.end();
  return (await outcome).data.toString('latin1');
}

t.test('curl --http1.1: aborted and passed requests', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, ABORT_RULE);
  const curl = (path: string) =>
    new Promise<string>((resolve) => execFile('curl', ['-s', '--http1.1', '-w', '|%{http_code}', `http://127.0.0.1:${port}${path}`, `http://127.0.0.1:${port}/again`], (_e, out) => resolve(out)));
  t.equal(await curl('/ok'), 'GET /ok 0|200GET /again 0|200', 'two requests on one keep-alive connection');
  t.match(await curl('/fail'), /^\{"error":"fault_injected".*\|503GET \/again 0\|200$/);
});

t.test('pipelined requests, chunked bodies and an abort in the middle keep their order', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, ABORT_RULE);
  const requests =
    'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n' +
    'POST /fail HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody' +
    'HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /d?chunked=1&size=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const out = await raw(t, port, requests, 200);
  const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  t.same(statuses, ['200', '503', '200', '200'], 'four responses in request order');
  t.match(out, /POST \/a 11/, 'the chunked body reached the upstream whole');
  t.match(out, /content-length: 9\r\n[^]*?\r\n\r\nHTTP\/1\.1 200/i, 'HEAD answered without a body');
});

t.test('malformed request line: 400 and close; oversized head: 431; others unaffected', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, ABORT_RULE);
  const bad = await raw(t, port, 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET  /x HTTP/9\r\n\r\n');
  t.match(bad, /^HTTP\/1\.1 200[^]*HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close[^]*"error":"bad_request"/);
  const big = await raw(t, port, `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(big, /^HTTP\/1\.1 431 /);
  const smuggle = await raw(t, port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  t.match(smuggle, /^HTTP\/1\.1 400 /, 'Content-Length with Transfer-Encoding is refused');
  t.match(await raw(t, port, 'GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /GET \/fine 0$/);
});

t.test('real upstream failures in the SPEC shape: 503 when unreachable, 502 when it closes unanswered', async (t) => {
  const { server, port: closedPort } = await tcpServer(t, () => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const { port } = await startSidecar(t, closedPort, ABORT_RULE);
  const out = await raw(t, port, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n', 300);
  t.match(out, /^HTTP\/1\.1 503 [^]*"error":"upstream_unavailable"[^]*ECONNREFUSED/);

  const { port: rude } = await tcpServer(t, (socket) => socket.once('data', () => socket.end()));
  const { port: p2 } = await startSidecar(t, rude, ABORT_RULE);
  const out2 = await raw(t, p2, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n', 300);
  t.match(out2, /^HTTP\/1\.1 502 [^]*"error":"upstream_unavailable"/);

  const { port: garbage } = await tcpServer(t, (socket) => socket.once('data', () => socket.write('NOT HTTP\r\n\r\n')));
  const { port: p3 } = await startSidecar(t, garbage, ABORT_RULE);
  t.match(await raw(t, p3, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n', 300), /^HTTP\/1\.1 502 [^]*malformed/);
});

t.test('a server that speaks first, and non-HTTP bytes, stay plain pipes', async (t) => {
  const { port: banner } = await tcpServer(t, (socket) => {
    socket.write('220 hello\r\n');
    socket.pipe(socket);
  });
  const { port } = await startSidecar(t, banner, ABORT_RULE);
  const socket = await dial(t, port);
  const outcome = collect(socket);
  await new Promise((resolve) => socket.once('data', resolve));
  socket.end('GET /fail HTTP/1.1\r\n\r\n');
  t.equal((await outcome).data.toString(), '220 hello\r\nGET /fail HTTP/1.1\r\n\r\n', 'no inspection after the server spoke: the request is echoed, not aborted');
  const { port: echo } = await tcpServer(t, (socket) => socket.pipe(socket));
  const { port: p2 } = await startSidecar(t, echo, ABORT_RULE);
  const bytes = Buffer.from([0, 1, 2, 3, 255, 10, 13]);
  t.same(Buffer.from(await raw(t, p2, bytes, 100), 'latin1'), bytes, 'binary protocol passes');
});
