import { execFile } from 'node:child_process';
import { connect as connectH2 } from 'node:http2';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { Agent, request } from 'undici';
import { echoService, type EchoClient } from '../helpers/grpc.js';
import { sleep, tcpServer, waitFor } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { httpsUpstream, serverCertificate, tlsFlags, tlsWorld } from '../helpers/tls.js';

const run = promisify(execFile);

// The upstream of a terminated connection is verified like the client would have verified it:
// a certificate that fails is a 502 in the SPEC's error shape (gRPC: 14 UNAVAILABLE), never a
// connection that silently trusts anything.

const terminate = `    - name: terminate-api
      match: {listener: up, sni: api.example.com}
      tls: terminate`;

t.test('an upstream certificate from a CA the sidecar does not trust: 502 over HTTP/1.1, HTTP/2 and gRPC', async (t) => {
  const world = tlsWorld(t);
  const { port: up } = await httpsUpstream(t, world.credentials, { h2: true });
  // No --tls-upstream-ca: the upstream's private CA is not among the public roots.
  const { port } = await startSidecar(t, up, terminate, { tls: { caCert: world.appCa.certFile, caKey: world.appCa.keyFile } });
  const { stdout } = await run('curl', ['-sS', '--http1.1', '-w', '\\n%{http_code}', '--cacert', world.appCa.certFile, '--resolve', `api.example.com:${port}:127.0.0.1`, `https://api.example.com:${port}/x`]);
  const [body, status] = stdout.split('\n');
  t.equal(status, '502');
  t.match(JSON.parse(body as string), { error: 'upstream_unavailable', code: 502, retryable: true, message: /UNABLE_TO_VERIFY_LEAF_SIGNATURE/ });

  const session = connectH2(`https://127.0.0.1:${port}`, { ca: world.appCa.cert, servername: 'api.example.com' });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/x' });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (text += c));
    req.on('end', () => resolve({ status, body: text }));
    req.on('error', reject);
    req.end();
  });
  t.equal(h2.status, 502, 'HTTP/2 (the client offered h2 only, so h2 it is)');
  t.match(JSON.parse(h2.body), { error: 'upstream_unavailable', code: 502 });

  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(world.appCa.cert)), { 'grpc.ssl_target_name_override': 'api.example.com', 'grpc.default_authority': 'api.example.com' }) as unknown as EchoClient;
  t.teardown(() => client.close());
  const failed = await new Promise<grpc.ServiceError | null>((resolve) => client.Say(Buffer.from('x'), (err) => resolve(err)));
  t.equal(failed?.code, 14, 'gRPC: UNAVAILABLE');
  t.match(failed?.details, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
});

t.test('an upstream certificate for another name: 502 naming the mismatch; with the right bundle and name the request goes through', async (t) => {
  const world = tlsWorld(t);
  const wrong = serverCertificate(world.upstreamCa, ['internal.example.net']);
  const { port: badUp } = await httpsUpstream(t, wrong);
  const bad = await startSidecar(t, badUp, terminate, { tls: tlsFlags(world) });
  const dispatcher = new Agent({ connect: { ca: world.appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => dispatcher.close());
  const refused = await request(`https://127.0.0.1:${bad.port}/x`, { dispatcher });
  t.equal(refused.statusCode, 502);
  t.match(await refused.body.json(), { error: 'upstream_unavailable', message: /ERR_TLS_CERT_ALTNAME_INVALID/ });

  const { port: goodUp, server } = await httpsUpstream(t, world.credentials);
  const resumed: boolean[] = [];
  server.on('secureConnection', (s: import('node:tls').TLSSocket) => resumed.push(s.isSessionReused()));
  const good = await startSidecar(t, goodUp, terminate, { tls: tlsFlags(world) });
  const ok = await request(`https://127.0.0.1:${good.port}/x`, { dispatcher });
  t.equal(ok.statusCode, 200);
  t.equal(await ok.body.text(), 'GET /x 0');
  const fresh = new Agent({ connect: { ca: world.appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => fresh.close());
  const again = await request(`https://127.0.0.1:${good.port}/y`, { dispatcher: fresh });
  await again.body.text();
  t.same(resumed, [false, true], 'a second client connection: the upstream session was resumed, not handshaken again');
});

t.test('an upstream that cannot be reached: 503 in the SPEC\'s shape, over TLS', async (t) => {
  const world = tlsWorld(t);
  const { server, port: gone } = await tcpServer(t, () => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const { port } = await startSidecar(t, gone, terminate, { tls: tlsFlags(world) });
  const dispatcher = new Agent({ connect: { ca: world.appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => dispatcher.close());
  const response = await request(`https://127.0.0.1:${port}/x`, { dispatcher });
  t.equal(response.statusCode, 503);
  t.match(await response.body.json(), { error: 'upstream_unavailable', message: /ECONNREFUSED/ });
});

t.test('a terminating rule removed while a keep-alive connection is open: that connection keeps working, new ones pass through', async (t) => {
  const world = tlsWorld(t);
  let upstreamConnections = 0;
  const { port: up, server } = await httpsUpstream(t, world.credentials);
  server.on('secureConnection', () => upstreamConnections++);
  const { port, sidecar, write } = await startSidecar(t, up, `    - name: api-errors
      match: {listener: up, sni: api.example.com, protocol: http, http: {paths: ["/fail"]}}
      tls: terminate
      faults: [{type: http_abort, status: 503}]`, { tls: tlsFlags(world) });
  const dispatcher = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000, connect: { ca: world.appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => dispatcher.close());
  const get = async (path: string) => {
    const r = await request(`https://127.0.0.1:${port}${path}`, { dispatcher });
    await r.body.text();
    return r.statusCode;
  };
  t.equal(await get('/fail'), 503);
  t.equal(await get('/ok'), 200);
  const [conn] = [...sidecar.connections];
  write();
  t.ok(await waitFor(() => sidecar.policy.rules.length === 0), 'the rule is gone');
  await sleep(50);
  t.equal(await get('/fail'), 200, 'the fault is gone from the terminated connection');
  t.equal(await get('/ok'), 200);
  t.same([...sidecar.connections], [conn], 'on the same client connection, still terminated');
  t.equal(upstreamConnections, 1, 'and the same upstream connection');
});
