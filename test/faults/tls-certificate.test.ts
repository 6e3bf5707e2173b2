import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { CERTIFICATE_KINDS, tlsCertificate } from '../../src/faults/tls-certificate.js';
import { tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { curl, grpcTls, nodeHttp2, nodeHttps, nodeTls, opensslClient, undici, type Target } from '../helpers/tls-clients.js';
import { makeCa } from '../helpers/tls.js';

t.test('options: a kind is required, an unknown one is refused', async (t) => {
  t.same(tlsCertificate.options.parse({ kind: 'expired' }), { kind: 'expired' });
  t.notOk(tlsCertificate.options.safeParse({}).success);
  t.notOk(tlsCertificate.options.safeParse({ kind: 'revoked' }).success);
  t.same(Object.keys(CERTIFICATE_KINDS), ['expired', 'not_yet_valid', 'self_signed', 'unknown_ca', 'wrong_host', 'weak_signature']);
});

// What each client reports for each kind (docs/tls.md lists the same): Node's code (node tls,
// https, http2 and undici share it), curl's and openssl's text, grpc-js's UNAVAILABLE details.
const KINDS: [string, { node: string; text: RegExp; curl: RegExp; openssl: RegExp }][] = [
  ['expired', { node: 'CERT_HAS_EXPIRED', text: /certificate has expired/, curl: /curl: \(60\) SSL certificate problem: certificate has expired/, openssl: /Verify return code: 10 \(certificate has expired\)/ }],
  ['not_yet_valid', { node: 'CERT_NOT_YET_VALID', text: /certificate is not yet valid/, curl: /certificate is not yet valid/, openssl: /Verify return code: 9 \(certificate is not yet valid\)/ }],
  ['self_signed', { node: 'DEPTH_ZERO_SELF_SIGNED_CERT', text: /self-signed certificate/, curl: /SSL certificate problem: self-signed certificate/, openssl: /Verify return code: 18 \(self-signed certificate\)/ }],
  ['unknown_ca', { node: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', text: /unable to verify the first certificate/, curl: /unable to get local issuer certificate/, openssl: /Verify return code: 20 \(unable to get local issuer certificate\)/ }],
  ['wrong_host', { node: 'ERR_TLS_CERT_ALTNAME_INVALID', text: /is not in the cert's altnames: DNS:wrong-host\.faultline\.invalid/, curl: /SSL: no alternative certificate subject name matches target host name 'n4\.example\.com'/, openssl: /Verify return code: 62 \(hostname mismatch\)/ }],
  ['weak_signature', { node: 'UNSPECIFIED', text: /CA signature digest algorithm too weak/, curl: /CA signature digest algorithm too weak/, openssl: /Verify return code: 68 \(CA signature digest algorithm too weak\)/ }],
];

t.test('each kind fails each client\'s own verification the way a misconfigured server does; the upstream is never dialled', async (t) => {
  let dialled = 0;
  const { port: up } = await tcpServer(t, (s) => (dialled++, s.destroy()));
  const ca = makeCa(t);
  const rules = KINDS.map(([kind], i) => `    - {name: bad-${i}, match: {listener: up, sni: "n${i}.example.com"}, faults: [{type: tls_certificate, kind: ${kind}}]}`).join('\n');
  const { port } = await startSidecar(t, up, rules, { tls: { caCert: ca.certFile, caKey: ca.keyFile } });
  for (const [i, [kind, expected]] of KINDS.entries()) {
    const target: Target = { port, name: `n${i}.example.com`, ca: ca.cert, caFile: ca.certFile };
    const node = new RegExp(`^${expected.node}: .*${expected.text.source}`);
    t.match(await nodeTls(target), node, `${kind}: node tls`);
    t.match(await nodeHttps(target), node, `${kind}: node https`);
    t.match(await nodeHttp2(target), node, `${kind}: node http2`);
    t.match(await undici(target), node, `${kind}: undici`);
    t.match(await grpcTls(target), new RegExp(`^14 No connection established\\. Last error: .*${expected.text.source}`), `${kind}: grpc-js UNAVAILABLE`);
    t.match(await curl(target), expected.curl, `${kind}: curl`);
    t.match(await opensslClient(target), expected.openssl, `${kind}: openssl s_client`);
  }
  t.equal(dialled, 0, 'no connection reached the upstream');
});

t.test('a client that does not verify completes the handshake, then sees the connection close; self_signed needs no CA', async (t) => {
  const { port: up } = await tcpServer(t, (s) => s.destroy());
  const { port } = await startSidecar(t, up, `    - {name: dev-cert, match: {listener: up, sni: "*.example.com"}, faults: [{type: tls_certificate, kind: self_signed}]}`);
  const outcome = await new Promise<{ subject: string; ended: boolean }>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'api.example.com', rejectUnauthorized: false }, () => {
      const subject = socket.getPeerX509Certificate()?.subjectAltName ?? '';
      socket.once('end', () => resolve({ subject, ended: true }));
      socket.resume();
    });
    socket.once('error', reject);
  });
  t.same(outcome, { subject: 'DNS:api.example.com', ended: true }, 'minted for the name asked for (a glob: on first use), then closed');
});
