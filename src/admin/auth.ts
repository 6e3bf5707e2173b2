import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { RequestError, UsageError } from '../errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * The bearer token that every mutating admin call must carry (`--admin-token-file`). The file is
 * read at start (a missing or empty file is fatal) and again on each check, so a rotated
 * Kubernetes Secret takes effect without a restart; if a later read fails, the last token read
 * stays in force. Without a token file, mutating calls are refused (403).
 */
export class AdminToken {
  private token: Buffer | undefined;

  constructor(private readonly file: string | undefined) {
    if (file !== undefined) this.token = AdminToken.read(file);
  }

  /**
   * Throws a RequestError unless the request carries the token: 401 without an
   * `Authorization: Bearer` header, 403 with a wrong token (or when no token is configured).
   */
  check(req: IncomingMessage): void {
    if (this.file === undefined) {
      throw new RequestError(403, 'forbidden', 'mutating admin calls are disabled: start the sidecar with --admin-token-file FILE');
    }
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new RequestError(401, 'unauthorized', 'this call needs "Authorization: Bearer <token>" (the token in --admin-token-file)');
    try {
      this.token = AdminToken.read(this.file);
    } catch {
      // Keep the last token read: a Secret being swapped is briefly unreadable.
    }
    // Compare digests: equal length, constant time, whatever the length of what was sent.
    if (!timingSafeEqual(digest(match[1] as string), this.token as Buffer)) throw new RequestError(403, 'forbidden', 'wrong admin token');
  }

  private static read(file: string): Buffer {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--admin-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (text.length === 0) throw new UsageError(`--admin-token-file: ${file} is empty; put a token (e.g. 32 random hex characters) in it`);
    return digest(text);
  }
}
