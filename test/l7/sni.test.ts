import { connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { alpnProtocols, classify } from '../../src/l7/detect.js';
import { collect, dial, echoServer, tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

/** The ClientHello Node's TLS client sends for `servername`, captured by a plain TCP server. */
async function clientHello(t: Test, servername: string, ALPNProtocols?: string[]): Promise<Buffer> {
  let resolveHello: (b: Buffer) => void = () => {};
  const hello = new Promise<Buffer>((resolve) => (resolveHello = resolve));
  const { port } = await tcpServer(t, (socket) => socket.once('data', (b: Buffer) => (resolveHello(b), socket.destroy())));
  const client = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...(ALPNProtocols ? { ALPNProtocols } : {}) });
  client.on('error', () => {});
  return hello;
}

async function echoTime(t: Test, port: number, hello: Buffer): Promise<{ ms: number; data: Buffer; ending: string }> {
  const socket = await dial(t, port);
  const outcome = collect(socket);
  const started = performance.now();
  socket.write(hello);
  await new Promise((resolve) => socket.once('data', resolve).once('close', resolve));
  const ms = performance.now() - started;
  socket.end();
  const { data, ending } = await outcome;
  return { ms, data, ending };
}

t.test('the server name is read from a ClientHello, whole or in pieces', async (t) => {
  const hello = await clientHello(t, 'api.example.com');
  t.same(classify(hello), { kind: 'tls', sni: 'api.example.com' });
  t.equal(classify(hello.subarray(0, 40)), undefined, 'a partial hello asks for more');
  // The same hello split over two TLS records.
  const body = hello.subarray(5);
  const cut = 30;
  const record = (part: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part]);
  t.same(classify(Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))])), { kind: 'tls', sni: 'api.example.com' });
});

t.test('the ALPN offer is read too, in the client\'s order; a malformed list is no list', async (t) => {
  const hello = await clientHello(t, 'api.example.com', ['h2', 'http/1.1']);
  t.same(classify(hello), { kind: 'tls', sni: 'api.example.com', alpn: ['h2', 'http/1.1'] });
  const body = hello.subarray(9);
  t.same(alpnProtocols(body), ['h2', 'http/1.1']);
  // The same hello with the ALPN list's first protocol length made to overrun the list.
  const at = body.indexOf(Buffer.from([0x02, 0x68, 0x32]));
  const broken = Buffer.from(body);
  broken[at] = 0x40;
  t.equal(alpnProtocols(broken), undefined);
});

t.test('2,000 mutated ClientHellos: reading the name and the ALPN offer never throws and never returns junk', async (t) => {
  const hello = await clientHello(t, 'api.example.com', ['h2', 'http/1.1']);
  let seed = 20261202;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let tls = 0;
  for (let i = 0; i < 2000; i++) {
    const mutated = Buffer.from(hello);
    for (let j = 0; j < 1 + Math.floor(random() * 4); j++) mutated[5 + Math.floor(random() * (mutated.length - 5))] = Math.floor(random() * 256);
    // One in ten is also cut short somewhere.
    const kind = classify(random() < 0.1 ? mutated.subarray(0, Math.floor(random() * mutated.length) + 1) : mutated);
    if (kind?.kind !== 'tls') continue;
    tls++;
    if (kind.sni !== undefined && !/^[a-z0-9.-]{1,253}$/.test(kind.sni)) t.fail(`a bad name came out: ${kind.sni}`);
    if (kind.alpn !== undefined && !kind.alpn.every((p) => p.length > 0 && p.length < 256)) t.fail('a bad ALPN list came out');
  }
  t.ok(tls > 100, `${tls} of them still read as TLS, every one with a sane name and offer`);
});

t.test('match.sni applies connection faults to TLS traffic by server name; bytes pass untouched', async (t) => {
  const { port: echo } = await echoServer(t);
  const { port } = await startSidecar(t, echo, `    - name: slow-api
      match: {listener: up, sni: "*.example.com"}
      faults: [{type: latency, latency: 100ms}]
    - name: no-evil
      match: {listener: up, sni: evil.test}
      faults: [{type: refuse}]`);
  const api = await clientHello(t, 'api.example.com');
  const slow = await echoTime(t, port, api);
  t.ok(slow.ms >= 99 && slow.ms < 170, `api.example.com delayed ${slow.ms.toFixed(0)} ms`);
  t.ok(slow.data.equals(api), 'the ClientHello passed byte for byte');
  const other = await echoTime(t, port, await clientHello(t, 'other.org'));
  t.ok(other.ms < 50, `other.org not delayed (${other.ms.toFixed(0)} ms)`);
  const evil = await echoTime(t, port, await clientHello(t, 'evil.test'));
  t.equal(evil.ending, 'ECONNRESET', 'a refuse in an sni rule resets once the name is known');
});
