import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { InputError, RequestError, UsageError } from '../errors.js';
import { ADMIN_VERBS, credentialSecretName, grants, TOKEN_HEADER, type AdminVerb } from './verbs.js';

const digest = (text: string) => createHash('sha256').update(text).digest();
const NOTHING = digest('');

/** Credential files are looked at (stat) at most this often; re-read only when they changed. */
export const RECHECK_MS = 1000;

export interface AdminCredentialsOptions {
  /** `--admin-token-file`: one token that grants every verb. Read at start: missing or empty is fatal. */
  tokenFile?: string | undefined;
  /** `--admin-credentials DIR`: DIR/view, DIR/killswitch, DIR/rules, each optional (a Secret not there yet). */
  credentialsDir?: string | undefined;
  /** Reads need `view` too (an admin API reachable from the pod network); otherwise they are open. */
  protectReads?: boolean;
  recheckMs?: number;
  now?: () => number;
}

/** One credential file and what it grants; `digest` is the last good token read from it. */
interface Source {
  file: string;
  level: AdminVerb;
  digest: Buffer | undefined;
  stamp: string | undefined;
}

/**
 * The admin API's credentials: which verb a request may use. A request carries its token as
 * `Authorization: Bearer T` or `X-Faultline-Token: T` (what the fleet CLI sends through the API
 * server's pod proxy, which drops Authorization). Tokens are compared as SHA-256 digests in
 * constant time, never logged. The files are looked at at most once a second (stat) and re-read
 * when they changed, so a rotated Secret applies without a restart; a file that is briefly
 * unreadable or empty (a Secret being swapped) keeps its last good token.
 */
export class AdminCredentials {
  private readonly sources: Source[] = [];
  private readonly recheckMs: number;
  private readonly now: () => number;
  private checkedAt = -Infinity;
  readonly protectReads: boolean;

  constructor(options: AdminCredentialsOptions = {}) {
    this.recheckMs = options.recheckMs ?? RECHECK_MS;
    this.now = options.now ?? Date.now;
    this.protectReads = options.protectReads ?? false;
    if (options.tokenFile !== undefined) {
      const source: Source = { file: options.tokenFile, level: 'rules', digest: undefined, stamp: undefined };
      source.digest = readStrict(options.tokenFile);
      this.sources.push(source);
    }
    if (options.credentialsDir !== undefined) {
      let isDir = false;
      try {
        isDir = statSync(options.credentialsDir).isDirectory();
      } catch {
        // reported below
      }
      if (!isDir) throw new UsageError(`--admin-credentials: ${options.credentialsDir} is not a directory (it holds the files view, killswitch and rules)`);
      for (const level of ADMIN_VERBS) this.sources.push({ file: join(options.credentialsDir, level), level, digest: undefined, stamp: undefined });
    }
    this.refresh(true);
  }

  /** Whether any credential source was given; without one, every guarded call is refused. */
  get configured(): boolean {
    return this.sources.length > 0;
  }

  /** The levels that have a token now (for `GET /status` and the start-up log; never the tokens). */
  levels(): AdminVerb[] {
    this.refresh();
    return ADMIN_VERBS.filter((level) => this.sources.some((s) => s.level === level && s.digest !== undefined));
  }

  /**
   * The highest verb the request's credential grants: undefined when it carries none. Throws a
   * 403 RequestError when it carries one that matches no credential.
   */
  verbFor(req: IncomingMessage): AdminVerb | undefined {
    const token = presented(req);
    if (token === undefined) return undefined;
    const level = this.match(token);
    if (level === undefined) throw new RequestError(403, 'forbidden', `unknown admin credential; reads need ${describe('view')} or higher`);
    return level;
  }

  /** The highest level whose token is `token`, or undefined. */
  private match(token: string): AdminVerb | undefined {
    this.refresh();
    const sent = digest(token);
    let best: AdminVerb | undefined;
    // Every source is compared, matched or not, so the time taken says nothing about which.
    for (const source of this.sources) {
      const equal = timingSafeEqual(sent, source.digest ?? NOTHING) && source.digest !== undefined;
      if (equal && (best === undefined || grants(source.level, best))) best = source.level;
    }
    return best;
  }

  /**
   * Throws unless the request may use `verb`: 401 without a credential, 403 with one that is
   * unknown or grants less (the message names the verb needed). Reads (`view`) pass without a
   * credential unless `protectReads`.
   */
  require(req: IncomingMessage, verb: AdminVerb): void {
    if (verb === 'view' && !this.protectReads) return;
    if (!this.configured) {
      throw new RequestError(
        403,
        'forbidden',
        verb === 'view'
          ? 'reads on an admin address outside loopback need a credential, and none is configured: start the sidecar with --admin-credentials DIR or --admin-token-file FILE'
          : 'mutating admin calls are disabled: start the sidecar with --admin-token-file FILE or --admin-credentials DIR',
      );
    }
    const token = presented(req);
    if (token === undefined) {
      throw new RequestError(401, 'unauthorized', `this call needs ${describe(verb)}: send it as "Authorization: Bearer <token>" or "X-Faultline-Token: <token>"`);
    }
    const level = this.match(token);
    if (level === undefined) throw new RequestError(403, 'forbidden', `unknown admin credential; this call needs ${describe(verb)}`);
    if (!grants(level, verb)) throw new RequestError(403, 'forbidden', `this call needs ${describe(verb)}; the credential sent grants "${level}" only`);
  }

  /** Looks at the files (at most once per recheck interval) and re-reads those that changed. */
  private refresh(force = false): void {
    const now = this.now();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    for (const source of this.sources) {
      try {
        const stat = statSync(source.file);
        const stamp = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
        if (stamp === source.stamp) continue;
        const text = readFileSync(source.file, 'utf8').trim();
        source.stamp = stamp;
        if (text.length > 0) source.digest = digest(text);
      } catch {
        // Keep the last good token: a Secret being swapped is briefly unreadable.
      }
    }
  }
}

/** "the \"killswitch\" credential (Secret faultline-admin-killswitch, or --admin-token-file)" */
function describe(verb: AdminVerb): string {
  return `the "${verb}" credential (Secret ${credentialSecretName(verb)}, or the --admin-token-file token)`;
}

/** The token a request carries, from X-Faultline-Token or `Authorization: Bearer`. */
function presented(req: IncomingMessage): string | undefined {
  const header = req.headers[TOKEN_HEADER];
  const own = Array.isArray(header) ? header[0] : header;
  if (own !== undefined && own.trim().length > 0) return own.trim();
  const match = req.headers.authorization ? /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization) : null;
  return match ? (match[1] as string) : undefined;
}

function readStrict(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new InputError(`--admin-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text.length === 0) throw new InputError(`--admin-token-file: ${file} is empty; put a token (e.g. 32 random hex characters) in it`);
  return digest(text);
}
