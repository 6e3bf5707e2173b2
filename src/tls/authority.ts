import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { PolicyError, TlsCaError } from '../errors.js';
import { fieldText, locateField } from '../policy/positions.js';
import type { CertificateSpec } from '../faults/types.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { presentedCertificates } from '../policy/tls-rules.js';
import { SessionCache } from './terminate.js';
import { loadCa, mint, type CaInfo, type Minted, type Signer } from './x509.js';

/** The files the sidecar's TLS takes (flags --tls-ca-cert, --tls-ca-key, --tls-upstream-ca). */
export interface TlsFiles {
  caCert?: string | undefined;
  caKey?: string | undefined;
  upstreamCa?: string | undefined;
}

/** Certificates kept, by spec and name; the least recently used go first. */
const MAX_CERTIFICATES = 1024;
/** A certificate is minted again after this long (its validity counts from when it was minted). */
const MAX_AGE_MS = 24 * 3600_000;
/** Termination leaves: valid from an hour ago (clock skew) for a week. */
const LEAF: CertificateSpec = { issuer: 'ca', validFromMs: -3600_000, validToMs: 7 * 24 * 3600_000, host: 'requested', hash: 'SHA-256' };
/** The name a `host: other` certificate carries: one no client ever asks for (RFC 2606's .invalid). */
export const OTHER_HOST = 'wrong-host.faultline.invalid';

interface Entry {
  context: Promise<SecureContext>;
  mintedAt: number;
}

/**
 * The sidecar's TLS material: the CA the clients trust (from files, for termination leaves and
 * the CA-signed bad certificates), a CA nobody trusts (unknown_ca), the upstreams' trust, and
 * the certificates minted from them, cached per spec and name. Private keys live in WebCrypto
 * (the CA's not extractable) and in Node's secure contexts; none is kept as text, logged or shown:
 * `view()` (and JSON) say what the CA is, never what its key is.
 */
export class TlsAuthority {
  #ca: { signer: Signer; info: CaInfo; digest: string } | undefined;
  #caError: TlsCaError | undefined;
  #untrusted: Promise<Signer> | undefined;
  #upstreamCa: string | undefined;
  #upstreamDigest = '';
  #upstreamContext: SecureContext | undefined;
  readonly #cache = new Map<string, Entry>();
  /** Upstream TLS sessions, resumed by new terminated connections to the same upstream and name. */
  readonly sessions = new SessionCache();

  constructor(private readonly files: TlsFiles = {}) {}

  /** Whether a CA was given (--tls-ca-cert and --tls-ca-key): what `tls: terminate` and CA-signed kinds need. */
  get configured(): boolean {
    return this.files.caCert !== undefined && this.files.caKey !== undefined;
  }

  /**
   * The secure context TLS to upstreams is spoken with: their trust (the bundle of
   * --tls-upstream-ca, else Node's public roots), made once and shared, not parsed per connection.
   */
  get upstreamContext(): SecureContext {
    this.#upstreamContext ??= createSecureContext(this.#upstreamCa ? { ca: this.#upstreamCa } : {});
    return this.#upstreamContext;
  }

  /**
   * Reads the files again (at start, at every policy load, and every few seconds): a CA changed
   * on disk (a rotated Secret) is taken, and what was minted from the old one is dropped.
   * Resolves whether anything changed. Throws TlsCaError when a file cannot be read or the CA
   * cannot be used; the CA in force then stays.
   */
  async reload(now = new Date()): Promise<boolean> {
    const { caCert, caKey, upstreamCa } = this.files;
    let changed = false;
    if (upstreamCa !== undefined) {
      const text = await read(upstreamCa, '--tls-upstream-ca');
      const digest = sha256(text);
      if (digest !== this.#upstreamDigest) {
        try {
          createSecureContext({ ca: text });
        } catch (err) {
          throw new TlsCaError(`--tls-upstream-ca ${upstreamCa}: not a PEM bundle of certificates (${(err as Error).message})`, { cause: err });
        }
        if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new TlsCaError(`--tls-upstream-ca ${upstreamCa}: no PEM certificate in it`);
        this.#upstreamCa = text;
        this.#upstreamDigest = digest;
        this.#upstreamContext = undefined;
        // Sessions verified against the old trust must not be resumed.
        this.sessions.clear();
        changed = true;
      }
    }
    if (caCert === undefined || caKey === undefined) return changed;
    try {
      const certText = await read(caCert, '--tls-ca-cert');
      const keyText = await read(caKey, '--tls-ca-key');
      const digest = sha256(certText + keyText);
      if (digest === this.#ca?.digest) return changed;
      let loaded: Awaited<ReturnType<typeof loadCa>>;
      try {
        loaded = await loadCa(certText, keyText, now);
      } catch (err) {
        throw err instanceof TlsCaError ? new TlsCaError(`--tls-ca-cert ${caCert} / --tls-ca-key ${caKey}: ${err.message}`) : err;
      }
      this.#ca = { ...loaded, digest };
      this.#caError = undefined;
      this.#cache.clear();
      return true;
    } catch (err) {
      this.#caError = err as TlsCaError;
      throw err;
    }
  }

  /** What the admin API and logs show: the CA's subject, fingerprint and expiry, never a key. */
  view(): { ca: CaInfo | null; caError: string | null; upstreamTrust: string; certificates: number } {
    return {
      ca: this.#ca?.info ?? null,
      caError: this.#caError?.message ?? null,
      upstreamTrust: this.files.upstreamCa ?? 'public roots (Node)',
      certificates: this.#cache.size,
    };
  }

  toJSON(): object {
    return this.view();
  }

  /** The secure context that terminates TLS for `name`: a leaf signed by the CA. */
  leaf(name: string): Promise<SecureContext> {
    return this.context(LEAF, name);
  }

  /** The secure context of a bad certificate made to `spec` for `name` (a handshake fault's). */
  context(spec: CertificateSpec, name: string, now = Date.now()): Promise<SecureContext> {
    const key = `${JSON.stringify(spec)}|${name}`;
    const cached = this.#cache.get(key);
    if (cached && now - cached.mintedAt < MAX_AGE_MS) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached.context;
    }
    const context = this.mint(spec, name, now).then((minted) =>
      // OpenSSL 3 will not even load a SHA-1 signed certificate at its default security level.
      createSecureContext({ cert: minted.certPem, key: minted.keyPem, ...(spec.hash === 'SHA-1' ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {}) }),
    );
    context.catch(() => this.#cache.get(key)?.context === context && this.#cache.delete(key));
    this.#cache.set(key, { context, mintedAt: now });
    if (this.#cache.size > MAX_CERTIFICATES) this.#cache.delete(this.#cache.keys().next().value as string);
    return context;
  }

  /**
   * At policy load: reads the files again (a rotated CA is taken here), then mints what the
   * policy's rules will present to the server names they spell out in full (`sni:
   * api.example.com`): termination leaves and the bad certificates of handshake faults; names a
   * glob matches are minted on their first connection, then cached. A policy that needs the CA
   * while it cannot be used is refused (PolicyError at its first rule that needs it, with the
   * line and column in `text`); otherwise a CA problem is only logged.
   */
  async prepare(policy: CompiledPolicy, text: string, log: Logger): Promise<void> {
    const needs = policy.rules.findIndex((r) => r.terminate || r.faults.some((f) => presentedCertificates(f.type, f.options).some((c) => c.issuer === 'ca')));
    if (this.configured) {
      try {
        await this.reload();
      } catch (err) {
        if (needs < 0) log.warn({ cause: (err as Error).message }, 'TLS CA not usable (no rule needs it now)');
        else throw caProblem(policy, text, needs, err as Error);
      }
    }
    await this.mintFor(policy);
  }

  private async mintFor(policy: CompiledPolicy): Promise<void> {
    const pending: Promise<unknown>[] = [];
    policy.rules.forEach((rule, r) => {
      const sni = policy.document.spec.rules[r]?.match.sni;
      if (sni === undefined || /[*?]/.test(sni)) return;
      const name = sni.toLowerCase();
      if (rule.terminate && this.#ca) pending.push(this.leaf(name));
      for (const fault of rule.faults) {
        for (const spec of presentedCertificates(fault.type, fault.options)) if (spec.issuer !== 'ca' || this.#ca) pending.push(this.context(spec, name));
      }
    });
    await Promise.all(pending);
  }

  private async mint(spec: CertificateSpec, name: string, now: number): Promise<Minted> {
    const signer = spec.issuer === 'ca' ? this.#ca?.signer : spec.issuer === 'unknown' ? await this.untrusted() : undefined;
    if (spec.issuer === 'ca' && !signer) throw new TlsCaError('no CA: start the sidecar with --tls-ca-cert and --tls-ca-key');
    return mint({
      name: spec.host === 'other' ? OTHER_HOST : name,
      notBefore: new Date(now + spec.validFromMs),
      notAfter: new Date(now + spec.validToMs),
      hash: spec.hash,
      signer,
    });
  }

  /** A CA made here and trusted by no one; its certificate is never sent (the chain stops at the leaf). */
  private untrusted(): Promise<Signer> {
    this.#untrusted ??= mint({ name: 'faultline untrusted CA', notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 3650 * 24 * 3600_000), hash: 'SHA-256', ca: true }).then(
      (ca) => ({ ...ca.signer, chainPem: '' }),
    );
    return this.#untrusted;
  }
}

/** The policy refused because rule `index` needs a CA that cannot be used. */
function caProblem(policy: CompiledPolicy, text: string, index: number, err: Error): PolicyError {
  const rule = policy.rules[index] as CompiledPolicy['rules'][number];
  const path = ['spec', 'rules', index, rule.terminate ? 'tls' : 'faults'];
  const { line, col } = locateField(text, path);
  const detail = `rule ${rule.name} needs the TLS CA, which cannot be used: ${err.message}`;
  return new PolicyError(policy.source, [{ path, line, col, message: `${fieldText(path)}: ${detail}`, field: path, detail, code: 'FL_ERR_TLS_CA' }]);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function read(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsCaError(`${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`, { cause: err });
  }
}
