import { execFile } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { dial, sleep, tcpServer, waitFor } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { fingerprint, httpsUpstream, tlsFlags, tlsWorld } from '../helpers/tls.js';

const run = promisify(execFile);

/** curl against the sidecar's port as https://NAME:PORT, trusting `caFile`; its status, headers and body. */
async function curl(port: number, name: string, path: string, caFile: string, extra: string[] = []): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-i', '--cacert', caFile, '--resolve', `${name}:${port}:127.0.0.1`, ...extra, `https://${name}:${port}${path}`]);
  const split = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, split);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)?.[1]), headers, body: stdout.slice(split + 4) };
}

/** The certificate a TLS client sees at 127.0.0.1:port for `servername` (not verified). */
function peerCertificate(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

async function setup(t: Test, rules: string) {
  const world = tlsWorld(t);
  const { port: upstream } = await httpsUpstream(t, world.credentials);
  const sidecar = await startSidecar(t, upstream, rules, { tls: tlsFlags(world) });
  return { ...sidecar, ...world, upstream };
}

t.test('HTTPS through tls: terminate: an http_abort answers with the JSON error and its header; other requests reach the upstream with the same SNI and ALPN', async (t) => {
  const { port, appCa } = await setup(t, `    - name: api-errors
      match: {listener: up, sni: api.example.com, protocol: http, http: {paths: ["/checkout"]}}
      tls: terminate
      faults: [{type: http_abort, status: 503}]`);
  const aborted = await curl(port, 'api.example.com', '/checkout', appCa.certFile);
  t.equal(aborted.status, 503);
  t.match(aborted.headers, /x-faultline-fault: api-errors\/http_abort/i);
  t.match(JSON.parse(aborted.body), { error: 'fault_injected', code: 503, rule: 'api-errors', fault: 'http_abort' });
  const passed = await curl(port, 'api.example.com', '/other', appCa.certFile);
  t.equal(passed.status, 200);
  t.match(passed.headers, /x-upstream-alpn: http\/1\.1/i, 'curl offered h2 and http/1.1; the HTTP/1.1-only upstream chose http/1.1, and so did faultline');
  t.match(passed.headers, /x-upstream-sni: api\.example\.com/i, 'the upstream got the same server name');
  t.equal(passed.body, 'GET /other 0');

  const dispatcher = new Agent({ connect: { ca: appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => dispatcher.close());
  const response = await request(`https://127.0.0.1:${port}/checkout`, { dispatcher, method: 'POST', body: 'x' });
  t.equal(response.statusCode, 503, 'undici over TLS gets the fault too');
  t.equal(response.headers['x-faultline-fault'], 'api-errors/http_abort');
  await response.body.text();
});

t.test('a server name no terminating rule matches passes byte for byte, with the upstream\'s own certificate', async (t) => {
  const { port, credentials, upstream } = await setup(t, `    - name: api-errors
      match: {listener: up, sni: api.example.com, protocol: http}
      tls: terminate
      faults: [{type: http_abort, status: 503}]`);
  const own = fingerprint(credentials.cert);
  t.equal(await peerCertificate(upstream, 'other.example.org'), own);
  t.equal(await peerCertificate(port, 'other.example.org'), own, 'other.example.org: the upstream\'s certificate, through the sidecar');
  t.not(await peerCertificate(port, 'api.example.com'), own, 'api.example.com: faultline\'s leaf');
});

t.test('a client that resets or sends garbage mid-connection ends that connection only', async (t) => {
  const { port, appCa, sidecar } = await setup(t, `    - name: decrypt
      match: {listener: up, sni: api.example.com}
      tls: terminate`);
  // A TLS session whose TCP socket resets after a partial request.
  const raw = await dial(t, port);
  const session = tlsConnect({ socket: raw, servername: 'api.example.com', ca: appCa.cert });
  session.on('error', () => {});
  await new Promise((resolve) => session.once('secureConnect', resolve));
  session.write('GET / HTTP/1.1\r\nhost: api\r\n');
  await sleep(50);
  raw.resetAndDestroy();
  // A real ClientHello, then a record that is no TLS the session can decrypt.
  let hello: Buffer = Buffer.alloc(0);
  const { port: capture } = await tcpServer(t, (s) => s.once('data', (b: Buffer) => ((hello = b), s.destroy())));
  tlsConnect({ host: '127.0.0.1', port: capture, servername: 'api.example.com', rejectUnauthorized: false }).on('error', () => {});
  await waitFor(() => hello.length > 0);
  const bad = await dial(t, port);
  bad.on('error', () => {});
  bad.write(hello);
  await new Promise((resolve) => bad.once('data', resolve));
  bad.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(64, 0x42)]));
  t.ok(await waitFor(() => sidecar.connections.size === 0, 3000), 'both connections ended');
  const passed = await curl(port, 'api.example.com', '/still', appCa.certFile);
  t.equal(passed.status, 200, 'the sidecar serves on');
});

t.test('an upstream that closes its idle keep-alive connection closes the client\'s too, and the connection is gone', async (t) => {
  const world = tlsWorld(t);
  const { port: up, server } = await httpsUpstream(t, world.credentials);
  (server as import('node:https').Server).keepAliveTimeout = 100;
  const { port, sidecar } = await startSidecar(t, up, `    - {name: decrypt, match: {listener: up, sni: api.example.com}, tls: terminate}`, { tls: tlsFlags(world) });
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'api.example.com', ca: world.appCa.cert });
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const ended = new Promise((resolve) => socket.once('end', resolve));
  socket.resume();
  socket.write('GET /idle HTTP/1.1\r\nhost: api.example.com\r\n\r\n');
  await ended;
  t.pass('the client saw the upstream\'s close');
  socket.end();
  t.ok(await waitFor(() => sidecar.connections.size === 0, 3000), 'the sidecar let go of both sides');
});
