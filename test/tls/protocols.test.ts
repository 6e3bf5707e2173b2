import { connect as connectH2, createSecureServer } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { createServer as createHttpsServer } from 'node:https';
import { echoService, type EchoClient } from '../helpers/grpc.js';
import { listenTracked } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';
import { tlsFlags, tlsWorld } from '../helpers/tls.js';

// Every L7 fault works on HTTPS as on cleartext once a rule terminates: HTTP/2 by ALPN, gRPC over
// TLS, WebSocket over TLS (wss). The upstreams speak TLS with their own CA, which the sidecar
// verifies (--tls-upstream-ca).

t.test('HTTP/2 over TLS (ALPN h2): a faulted stream gets the JSON error, the others reach the h2 upstream', async (t) => {
  const world = tlsWorld(t);
  const upstream = createSecureServer({ ...world.credentials }, (req, res) => res.end(`h2 ${req.url} ${req.httpVersion}`));
  const up = await listenTracked(t, upstream, 'secureConnection');
  const { port } = await startSidecar(t, up, `    - name: h2-errors
      match: {listener: up, sni: "*.example.com", http: {paths: ["/fail"]}}
      tls: terminate
      faults: [{type: http_abort, status: 502}]`, { tls: tlsFlags(world) });
  const session = connectH2(`https://127.0.0.1:${port}`, { ca: world.appCa.cert, servername: 'api.example.com' });
  t.teardown(() => session.destroy());
  const get = (path: string) =>
    new Promise<{ status: number; fault: unknown; body: string }>((resolve, reject) => {
      const req = session.request({ ':path': path });
      let status = 0;
      let fault: unknown;
      const chunks: Buffer[] = [];
      req.on('response', (h) => ((status = Number(h[':status'])), (fault = h['x-faultline-fault'])));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status, fault, body: Buffer.concat(chunks).toString() }));
      req.on('error', reject);
      req.end();
    });
  const [fail, ok] = await Promise.all([get('/fail'), get('/ok')]);
  t.equal(session.alpnProtocol, 'h2');
  t.equal(fail.status, 502);
  t.equal(fail.fault, 'h2-errors/http_abort');
  t.match(JSON.parse(fail.body), { error: 'fault_injected', code: 502 });
  t.same(ok, { status: 200, fault: undefined, body: 'h2 /ok 2.0' }, 'the other stream reached the upstream over HTTP/2');
});

t.test('gRPC over TLS: an aborted method gets its status, another method its answer', async (t) => {
  const world = tlsWorld(t);
  const server = new grpc.Server();
  const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, cb) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
  server.addService(echoService, { Say: echo, Other: echo });
  const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(world.credentials.cert), private_key: Buffer.from(world.credentials.key) }], false);
  const up = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => void server.forceShutdown());
  const { port } = await startSidecar(t, up, `    - name: payments-down
      match: {listener: up, sni: api.example.com, grpc: {methods: ["/test.Echo/Say"]}}
      tls: terminate
      faults: [{type: http_abort, grpcStatus: 14, grpcMessage: "try again"}]`, { tls: tlsFlags(world) });
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(world.appCa.cert)), { 'grpc.ssl_target_name_override': 'api.example.com', 'grpc.default_authority': 'api.example.com' }) as unknown as EchoClient;
  t.teardown(() => client.close());
  const call = (method: 'Say' | 'Other') =>
    new Promise<{ code: number; details: string } | { ok: string }>((resolve) =>
      client[method](Buffer.from('hi'), (err, res) => resolve(err ? { code: err.code, details: err.details } : { ok: String(res) })),
    );
  t.same(await call('Say'), { code: 14, details: 'try again' });
  t.same(await call('Other'), { ok: 'echo:hi' });
});

t.test('WebSocket over TLS (wss): ws_close closes both peers with its code and reason', async (t) => {
  const world = tlsWorld(t);
  const https = createHttpsServer({ ...world.credentials });
  const wss = new WebSocketServer({ server: https });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${String(data)}`)));
  const up = await listenTracked(t, https, 'secureConnection');
  t.teardown(() => wss.close());
  const { port } = await startSidecar(t, up, `    - name: feed-restart
      match: {listener: up, sni: api.example.com, protocol: ws, http: {paths: ["/feed"]}}
      tls: terminate
      faults: [{type: ws_close, code: 1012, reason: restart, stream: downstream}]`, { tls: tlsFlags(world) });
  const open = (path: string) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, { ca: world.appCa.cert, servername: 'api.example.com' } as WebSocket.ClientOptions);
    t.teardown(() => ws.terminate());
    return new Promise<WebSocket>((resolve, reject) => ws.once('open', () => resolve(ws)).once('error', reject));
  };
  const other = await open('/other');
  const echoed = new Promise<string>((resolve) => other.once('message', (d) => resolve(String(d))));
  other.send('hello');
  t.equal(await echoed, 'echo:hello', 'another path is relayed over wss');
  const feed = await open('/feed');
  const closed = new Promise<[number, string]>((resolve) => feed.once('close', (code, reason) => resolve([code, String(reason)])));
  feed.send('hello');
  t.same(await closed, [1012, 'restart'], 'the upstream\'s echo was closed on its way down with the rule\'s code and reason');
});
