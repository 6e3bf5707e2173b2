/**
 * DNS over TCP frames every message with a two-byte length (RFC 1035 4.2.2, RFC 7766). This
 * splits a byte stream into those messages; it holds at most one partial message (64 KiB).
 */
export class DnsFramer {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onMessage: (message: Buffer) => void) {}

  /** Takes a chunk; returns false when the stream is broken (a zero length). */
  push(chunk: Buffer): boolean {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 2) {
      const length = this.buffered.readUInt16BE(0);
      if (length === 0) return false;
      if (this.buffered.length < 2 + length) break;
      const message = this.buffered.subarray(2, 2 + length);
      this.buffered = this.buffered.subarray(2 + length);
      this.onMessage(message);
    }
    return true;
  }
}

/** A message with its two-byte length, for a TCP stream. */
export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}
