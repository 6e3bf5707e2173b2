import { createPrivateKey, webcrypto, X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { TlsCaError } from '../errors.js';

/**
 * Certificates built with @peculiar/x509 over Node's WebCrypto (Node has an X.509 parser but no
 * builder), loaded on first use so that a sidecar without TLS rules never loads it. Keys are
 * ECDSA P-256; a CA's own key may be EC or RSA.
 */

type X509Module = typeof import('@peculiar/x509');
type Extension = import('@peculiar/x509').Extension;
type KeyPair = { publicKey: CryptoKey; privateKey: CryptoKey };
const crypto = webcrypto as unknown as Crypto;
let module: Promise<X509Module> | undefined;

/** @peculiar/x509, set up on Node's WebCrypto. */
export function x509(): Promise<X509Module> {
  module ??= (async () => {
    await import('reflect-metadata');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(crypto);
    return lib;
  })();
  return module;
}

/** The signature hashes a spec may ask for. */
export type Hash = 'SHA-256' | 'SHA-1';

/** Who signs a certificate: its subject name, and its private key per hash (never extractable). */
export interface Signer {
  readonly subject: import('@peculiar/x509').Name;
  readonly publicKey: CryptoKey;
  sign(hash: Hash): Promise<{ key: CryptoKey; algorithm: { name: string; hash: Hash } }>;
  /** PEM of the signer's certificate, sent after the leaf (empty when the client must not get it). */
  readonly chainPem: string;
}

/** A minted certificate: PEM for Node's TLS context. The key is the certificate's own. */
export interface Minted {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}-----END ${label}-----\n`;
}

/** A random positive serial of 16 bytes. */
function serial(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

/** What a certificate to mint is: its name (DNS or IP), validity, hash, and who signs it (absent: itself). */
export interface MintRequest {
  name: string;
  notBefore: Date;
  notAfter: Date;
  hash: Hash;
  signer?: Signer | undefined;
  /** A CA certificate (basicConstraints CA, keyCertSign), for the untrusted CA of `unknown_ca`. */
  ca?: boolean;
}

/** A certificate with a fresh ECDSA P-256 key: a leaf for `name`, or a CA. */
export async function mint(request: MintRequest): Promise<Minted & { signer: Signer }> {
  const lib = await x509();
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const subject = request.ca ? `CN=${request.name}, O=faultline` : `CN=${request.name.slice(0, 64)}`;
  const own = ecSigner(new lib.Name(subject), keys, '');
  const signer = request.signer ?? own;
  const { key, algorithm } = await signer.sign(request.hash);
  const usage = request.ca ? lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign : lib.KeyUsageFlags.digitalSignature;
  const extensions: Extension[] = [
    new lib.BasicConstraintsExtension(request.ca === true, request.ca ? 0 : undefined, true),
    new lib.KeyUsagesExtension(usage, true),
    await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await lib.AuthorityKeyIdentifierExtension.create(signer.publicKey),
  ];
  if (!request.ca) {
    extensions.push(new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth]));
    extensions.push(new lib.SubjectAlternativeNameExtension([{ type: isIP(request.name) ? 'ip' : 'dns', value: request.name }]));
  }
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: own.subject,
    issuer: signer.subject,
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: key,
    extensions,
  });
  const certPem = `${cert.toString('pem')}\n${signer.chainPem}`;
  const keyPem = pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem, keyPem, notAfter: request.notAfter, signer: ecSigner(own.subject, keys, `${cert.toString('pem')}\n`) };
}

function ecSigner(subject: import('@peculiar/x509').Name, keys: KeyPair, chainPem: string): Signer {
  return { subject, publicKey: keys.publicKey, chainPem, sign: async (hash) => ({ key: keys.privateKey, algorithm: { ...EC, hash } }) };
}

/** What a loaded CA says of itself, for logs and the admin API (never its key). */
export interface CaInfo {
  subject: string;
  fingerprint256: string;
  notAfter: string;
}

/**
 * The CA of --tls-ca-cert/--tls-ca-key as a Signer: the certificate must be a CA, valid now, and
 * the key its own (EC P-256/P-384/P-521 or RSA). The key is imported into WebCrypto as not
 * extractable, once per hash; the PEM text is not kept. Throws TlsCaError saying what is wrong.
 */
export async function loadCa(certPem: string, keyPem: string, now = new Date()): Promise<{ signer: Signer; info: CaInfo }> {
  let cert: NodeCertificate;
  let key: KeyObject;
  try {
    cert = new NodeCertificate(certPem);
  } catch (err) {
    throw new TlsCaError(`the CA certificate is not a PEM X.509 certificate (${(err as Error).message})`, { cause: err });
  }
  try {
    key = createPrivateKey(keyPem);
  } catch {
    // The parser's message may quote the input: say nothing of it.
    throw new TlsCaError('the CA key is not a PEM private key (PKCS#8, SEC1 or PKCS#1, unencrypted)');
  }
  if (!cert.checkPrivateKey(key)) throw new TlsCaError(`the CA key does not belong to the CA certificate (${cert.subject.replace(/\n/g, ', ')})`);
  if (!cert.ca) throw new TlsCaError(`the CA certificate is not a CA (no basicConstraints CA:TRUE): ${cert.subject.replace(/\n/g, ', ')}`);
  if (now.getTime() >= Date.parse(cert.validTo)) throw new TlsCaError(`the CA certificate expired on ${cert.validTo}`);
  const algorithm = keyAlgorithm(key);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const lib = await x509();
  const imported = new Map<Hash, CryptoKey>();
  for (const hash of ['SHA-256', 'SHA-1'] as const) {
    // An RSA CryptoKey carries its hash, so there is one key per hash; an EC key signs with any.
    imported.set(hash, await crypto.subtle.importKey('pkcs8', pkcs8, { ...algorithm, hash }, false, ['sign']));
  }
  pkcs8.fill(0);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const publicKey = await crypto.subtle.importKey('spki', spki, { ...algorithm, hash: 'SHA-256' }, true, ['verify']);
  const parsed = new lib.X509Certificate(cert.raw);
  const signer: Signer = {
    subject: parsed.subjectName,
    publicKey,
    chainPem: `${cert.toString().trim()}\n`,
    sign: async (hash) => ({ key: imported.get(hash) as CryptoKey, algorithm: { ...algorithm, hash } }),
  };
  return { signer, info: { subject: cert.subject.replace(/\n/g, ', '), fingerprint256: cert.fingerprint256, notAfter: new Date(cert.validTo).toISOString() } };
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function keyAlgorithm(key: KeyObject): { name: string; namedCurve?: string } {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[details.namedCurve ?? ''];
    if (curve) return { name: 'ECDSA', namedCurve: curve };
  }
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5' };
  throw new TlsCaError(`the CA key is ${key.asymmetricKeyType ?? 'of an unknown type'}${details.namedCurve ? ` (${details.namedCurve})` : ''}: expected EC P-256, P-384, P-521 or RSA`);
}
