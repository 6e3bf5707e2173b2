import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { listenTracked } from './http.js';
import { tempDir } from './sidecar.js';

/** A CA made with the openssl CLI (ECDSA P-256 unless `rsa`): its files and PEM. */
export interface TestCa {
  certFile: string;
  keyFile: string;
  cert: string;
  dir: string;
}

/** Runs openssl with `args` in `dir`, quietly. */
function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA certificate and key in a temporary directory, made with openssl (removed at teardown). */
export function makeCa(t: Test, name = 'faultline test CA', options: { rsa?: boolean; dir?: string } = {}): TestCa {
  const dir = options.dir ?? tempDir(t);
  const base = name.replace(/\W+/g, '-');
  const keyFile = join(dir, `${base}.key`);
  const certFile = join(dir, `${base}.crt`);
  const key = options.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(dir, ['req', '-x509', ...key, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), dir };
}

/** A server certificate for `names` signed by `ca` (openssl), valid `days` (negative: already expired). */
export function serverCertificate(ca: TestCa, names: string[], options: { days?: number } = {}): { cert: string; key: string } {
  const base = join(ca.dir, `leaf-${names[0]?.replace(/\W+/g, '-')}-${Date.now()}`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(`${base}.ext`, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(ca.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`]);
  const days = options.days ?? 2;
  // An expired certificate: openssl x509 cannot sign one in the past, so its validity ends now.
  const validity = days > 0 ? ['-days', String(days)] : ['-days', '0'];
  openssl(ca.dir, ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.crt`, '-extfile', `${base}.ext`, ...validity]);
  return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
}

/** The SHA-256 fingerprint of a PEM certificate, as Node prints it. */
export const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/**
 * An HTTPS upstream on 127.0.0.1:0 with `cert`/`key` (HTTP/1.1 only unless `h2`): answers its
 * method, path and ALPN protocol (`x-upstream-alpn`); closed at teardown.
 */
export async function httpsUpstream(
  t: Test,
  credentials: { cert: string; key: string },
  options: { h2?: boolean; handler?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<{ port: number; server: HttpsServer | Http2SecureServer }> {
  const handler =
    options.handler ??
    ((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const alpn = (req.socket as Socket & { alpnProtocol?: string | false }).alpnProtocol;
        res.setHeader('x-upstream-alpn', String(alpn || 'none'));
        res.setHeader('x-upstream-sni', String((req.socket as Socket & { servername?: string }).servername ?? 'none'));
        res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).length}`);
      });
    });
  const server = options.h2
    ? createSecureServer({ ...credentials, allowHTTP1: true }, handler as never)
    : createHttpsServer({ ...credentials, keepAliveTimeout: 30_000 }, handler);
  return { port: await listenTracked(t, server, 'secureConnection'), server };
}

/** The CAs of a termination test: the one the client trusts (the sidecar's), and the upstream's own. */
export interface TlsWorld {
  appCa: TestCa;
  upstreamCa: TestCa;
  /** The upstream's certificate for api.example.com and other.example.org, signed by upstreamCa. */
  credentials: { cert: string; key: string };
}

/** Makes both CAs and the upstream's certificate (openssl), in one temporary directory. */
export function tlsWorld(t: Test): TlsWorld {
  const appCa = makeCa(t, 'app trust CA');
  const upstreamCa = makeCa(t, 'upstream CA', { dir: appCa.dir });
  return { appCa, upstreamCa, credentials: serverCertificate(upstreamCa, ['api.example.com', 'other.example.org']) };
}

/** The sidecar's TLS flags for a world: its CA, and the upstream CA as --tls-upstream-ca. */
export const tlsFlags = (world: TlsWorld) => ({ caCert: world.appCa.certFile, caKey: world.appCa.keyFile, upstreamCa: world.upstreamCa.certFile });
