import { z } from 'zod';
import { defineFault, type CertificateSpec } from './types.js';

const DAY = 24 * 3600_000;

/**
 * Each kind as the misconfigured server it imitates: what the certificate is made of, so that
 * the client's own verification fails the way it does there (what each client reports: docs/tls.md).
 */
export const CERTIFICATE_KINDS = {
  /** Signed by the trusted CA, for the right name, expired yesterday. */
  expired: { issuer: 'ca', validFromMs: -90 * DAY, validToMs: -DAY, host: 'requested', hash: 'SHA-256' },
  /** Signed by the trusted CA, for the right name, valid from 30 days on (a clock or a deployment ahead). */
  not_yet_valid: { issuer: 'ca', validFromMs: 30 * DAY, validToMs: 120 * DAY, host: 'requested', hash: 'SHA-256' },
  /** Signed by itself: a default or development certificate left in place. */
  self_signed: { issuer: 'self', validFromMs: -DAY, validToMs: 30 * DAY, host: 'requested', hash: 'SHA-256' },
  /** Signed by a CA the client does not know, its chain not sent: a private CA, a missing intermediate. */
  unknown_ca: { issuer: 'unknown', validFromMs: -DAY, validToMs: 30 * DAY, host: 'requested', hash: 'SHA-256' },
  /** Signed by the trusted CA, valid, for another name: the certificate of another service. */
  wrong_host: { issuer: 'ca', validFromMs: -DAY, validToMs: 30 * DAY, host: 'other', hash: 'SHA-256' },
  /** Signed by the trusted CA with SHA-1, which OpenSSL 3 refuses at its default security level. */
  weak_signature: { issuer: 'ca', validFromMs: -DAY, validToMs: 30 * DAY, host: 'requested', hash: 'SHA-1' },
} as const satisfies Record<string, CertificateSpec>;

type Kind = keyof typeof CERTIFICATE_KINDS;
const KINDS = Object.keys(CERTIFICATE_KINDS) as [Kind, ...Kind[]];

interface TlsCertificateOptions {
  kind: Kind;
}

/**
 * Completes the TLS handshake as the server with a bad certificate of `kind`, then closes: the
 * client's verification fails as it does against a misconfigured server (a client that does
 * not verify sees the connection close). The upstream is never dialled.
 */
export const tlsCertificate = defineFault<TlsCertificateOptions>({
  type: 'tls_certificate',
  summary: `present a bad certificate (kind: ${KINDS.join(' | ')}), then close`,
  options: z.strictObject({ kind: z.enum(KINDS, { message: `expected a certificate kind: ${KINDS.join(', ')}` }) }),
  defaultStream: null,
  timeBounds: true,
  handshake: (options, handshake) => handshake.present(CERTIFICATE_KINDS[options.kind]),
  // self_signed needs no CA the clients trust, so it works against any sidecar.
  randomDefault: { type: 'tls_certificate', kind: 'self_signed' },
});
