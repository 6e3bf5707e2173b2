import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type SecureContext } from 'node:tls';
import t, { type Test } from 'tap';
import { TlsAuthority } from '../../src/tls/authority.js';
import { serve } from '../../src/tls/terminate.js';
import { loadCa } from '../../src/tls/x509.js';
import { tcpServer } from '../helpers/net.js';
import { CERTIFICATE_KINDS } from '../../src/faults/tls-certificate.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { pino } from 'pino';
import { policyText, tempDir } from '../helpers/sidecar.js';
import { makeCa, serverCertificate } from '../helpers/tls.js';

/** The leaf certificate a TLS client gets from `context`, served as the sidecar serves it. */
async function served(t: Test, context: SecureContext): Promise<X509Certificate> {
  const { port } = await tcpServer(t, (raw) => void serve(raw, context, undefined).then((s) => s.end(), () => raw.destroy()));
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'api.example.com', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate() as X509Certificate);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

t.test('the CA is checked: PEM, a key of its own, a CA, not expired, a known key type', async (t) => {
  const ca = makeCa(t);
  const other = makeCa(t, 'other CA', { dir: ca.dir });
  const leaf = serverCertificate(ca, ['api.example.com']);
  const key = execFileSync('openssl', ['pkey', '-in', ca.keyFile], { encoding: 'utf8' });
  const ed = execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519'], { encoding: 'utf8' });
  const edCert = join(ca.dir, 'ed.crt');
  writeFileSync(join(ca.dir, 'ed.key'), ed);
  execFileSync('openssl', ['req', '-x509', '-key', join(ca.dir, 'ed.key'), '-out', edCert, '-days', '1', '-subj', '/CN=ed', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  const cases: [string, Promise<unknown>, RegExp][] = [
    ['not PEM', loadCa('nonsense', key), /the CA certificate is not a PEM X\.509 certificate/],
    ['a key that is not PEM', loadCa(ca.cert, 'nonsense'), /^the CA key is not a PEM private key/],
    ["another CA's key", loadCa(ca.cert, execFileSync('openssl', ['pkey', '-in', other.keyFile], { encoding: 'utf8' })), /the CA key does not belong to the CA certificate \(CN=faultline test CA\)/],
    ['a leaf, not a CA', loadCa(leaf.cert, leaf.key), /is not a CA \(no basicConstraints CA:TRUE\)/],
    ['expired', loadCa(ca.cert, key, new Date(Date.now() + 10 * 24 * 3600_000)), /the CA certificate expired on/],
    ['ed25519', loadCa(execFileSync('cat', [edCert], { encoding: 'utf8' }), ed), /the CA key is ed25519: expected EC P-256, P-384, P-521 or RSA/],
  ];
  for (const [name, promise, message] of cases) await t.rejects(promise, { code: 'FL_ERR_TLS_CA', message }, name);
  const loaded = await loadCa(ca.cert, key);
  t.match(loaded.info, { subject: 'CN=faultline test CA', fingerprint256: new X509Certificate(ca.cert).fingerprint256 });
});

t.test('leaves are signed by the CA (EC or RSA), minted once per name, and served with the chain', async (t) => {
  for (const rsa of [false, true]) {
    const ca = makeCa(t, rsa ? 'rsa CA' : 'ec CA', { rsa });
    const authority = new TlsAuthority({ caCert: ca.certFile, caKey: ca.keyFile });
    t.equal(await authority.reload(), true);
    const context = await authority.leaf('api.example.com');
    t.equal(await authority.leaf('api.example.com'), context, 'cached per name');
    const cert = await served(t, context);
    t.equal(cert.subjectAltName, 'DNS:api.example.com');
    t.ok(cert.checkIssued(new X509Certificate(ca.cert)), `${rsa ? 'RSA' : 'EC'} CA: issued by it`);
    t.ok(cert.verify(new X509Certificate(ca.cert).publicKey), 'and signed with its key');
    t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'the leaf key is ECDSA P-256');
    const weak = await served(t, await authority.context(CERTIFICATE_KINDS.weak_signature, 'api.example.com'));
    t.ok(weak.verify(new X509Certificate(ca.cert).publicKey), 'weak_signature: still signed by the CA');
    const ip = await served(t, await authority.leaf('10.1.2.3'));
    t.equal(ip.subjectAltName, 'IP Address:10.1.2.3', 'an address gets an IP SAN');
  }
});

t.test('the files are read again: a rotated CA replaces the old one; a broken one leaves it in force; nothing shows a key', async (t) => {
  const dir = tempDir(t);
  const first = makeCa(t, 'first CA');
  const second = makeCa(t, 'second CA');
  const caCert = join(dir, 'tls.crt');
  const caKey = join(dir, 'tls.key');
  copyFileSync(first.certFile, caCert);
  copyFileSync(first.keyFile, caKey);
  const authority = new TlsAuthority({ caCert, caKey });
  t.equal(await authority.reload(), true);
  t.equal(await authority.reload(), false, 'unchanged files: nothing to do');
  const before = await authority.leaf('api.example.com');
  copyFileSync(second.certFile, caCert);
  copyFileSync(second.keyFile, caKey);
  t.equal(await authority.reload(), true);
  t.match(authority.view(), { ca: { subject: 'CN=second CA' }, caError: null });
  const after = await authority.leaf('api.example.com');
  t.not(after, before, 'leaves from the old CA are dropped');
  t.ok((await served(t, after)).checkIssued(new X509Certificate(second.cert)));
  copyFileSync(first.keyFile, caKey);
  await t.rejects(authority.reload(), { code: 'FL_ERR_TLS_CA', message: /--tls-ca-cert .*tls\.crt \/ --tls-ca-key .*tls\.key: the CA key does not belong/ });
  t.match(authority.view(), { ca: { subject: 'CN=second CA' }, caError: /does not belong/ }, 'the CA in force stays');
  await t.rejects(new TlsAuthority({ caCert: join(dir, 'missing.crt'), caKey }).reload(), { message: /--tls-ca-cert .*missing\.crt: no such file/ });
  await t.rejects(new TlsAuthority({ upstreamCa: caKey }).reload(), { message: /--tls-upstream-ca .*: no PEM certificate in it/ });

  const shown = JSON.stringify(authority) + JSON.stringify(authority.view());
  const keyBody = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('-----'));
  for (const line of keyBody(execFileSync('cat', [first.keyFile, second.keyFile], { encoding: 'utf8' }))) {
    t.notOk(shown.includes(line), 'no line of a key in what the authority shows');
  }
  t.notMatch(shown, /PRIVATE KEY/);
});

t.test('prepare mints what a policy presents to the names it spells out, and refuses a policy that needs a CA it cannot use', async (t) => {
  const ca = makeCa(t);
  const authority = new TlsAuthority({ caCert: ca.certFile, caKey: ca.keyFile });
  const text = policyText({
    listeners: [],
    rules: `    - {name: a, match: {sni: api.example.com}, tls: terminate}
    - {name: b, match: {sni: "*.example.org"}, tls: terminate}
    - {name: c, match: {sni: old.example.com}, faults: [{type: tls_certificate, kind: expired}, {type: tls_certificate, kind: unknown_ca}]}`,
  });
  const policy = compilePolicy(text, 'p.yaml', { tlsCa: true });
  const log = pino({ level: 'silent' });
  await authority.prepare(policy, text, log);
  t.equal(authority.view().certificates, 3, 'api.example.com, and both bad certificates of old.example.com; the glob waits for a name');
  const broken = new TlsAuthority({ caCert: ca.certFile, caKey: join(ca.dir, 'nope.key') });
  await t.rejects(broken.prepare(policy, text, log), { code: 'FL_ERR_POLICY_INVALID', message: /^p\.yaml:7:53: spec\.rules\[0\]\.tls: rule a needs the TLS CA, which cannot be used: --tls-ca-key .*nope\.key: no such file/ });
  const plain = compilePolicy(policyText({ listeners: [], rules: '    - {name: s, match: {sni: x.example.com}, faults: [{type: tls_certificate, kind: self_signed}]}' }), 'q.yaml');
  await broken.prepare(plain, '', log);
  t.equal(broken.view().certificates, 1, 'a policy that needs no CA is prepared all the same');
});
