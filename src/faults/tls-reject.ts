import { z } from 'zod';
import { defineFault } from './types.js';

/** The TLS alerts (RFC 8446 6.2, RFC 5246 7.2) a server may answer a ClientHello with, by name. */
export const TLS_ALERTS = {
  close_notify: 0,
  unexpected_message: 10,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

type AlertName = keyof typeof TLS_ALERTS;
const ALERT_NAMES = Object.keys(TLS_ALERTS) as [AlertName, ...AlertName[]];

interface TlsRejectOptions {
  alert: AlertName;
}

/**
 * Answers the ClientHello with a fatal TLS alert and closes, as a server that refuses the
 * handshake does (no common cipher or version, an unknown server name...); the upstream is
 * never dialled.
 */
export const tlsReject = defineFault<TlsRejectOptions>({
  type: 'tls_reject',
  summary: 'answer the ClientHello with a TLS alert (default handshake_failure) and close',
  options: z.strictObject({
    alert: z.enum(ALERT_NAMES, { message: `expected a TLS alert: ${ALERT_NAMES.join(', ')}` }).default('handshake_failure'),
  }),
  defaultStream: null,
  timeBounds: true,
  handshake: (options, handshake) => handshake.reject(TLS_ALERTS[options.alert]),
  randomDefault: { type: 'tls_reject', alert: 'handshake_failure' },
});
