/**
 * A TLS alert record, written as-is in answer to a ClientHello (before any key exchange, so in
 * the clear): content type alert (21), record version TLS 1.2 (what TLS 1.3 servers write too),
 * length 2, level fatal (2), the alert's code.
 */
export function alertRecord(code: number): Buffer {
  return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, code & 0xff]);
}
