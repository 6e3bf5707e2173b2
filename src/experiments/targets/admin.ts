import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { TargetError } from '../../errors.js';
import type { MirrorCounts } from '../drift.js';
import type { TargetSpec } from '../schema.js';
import type { Target } from './index.js';

/** Each admin API call gives up after this long. */
const CALL_TIMEOUT_MS = 5000;

/**
 * A sidecar's admin API: runtime rules through `POST /rules` and `DELETE /rules/NAME`, read
 * back with `GET /rules`. Each rule carries `expiresAt`, so it stops applying by itself if the
 * runner dies before removing it; the sidecar's own rules are never touched.
 */
export class AdminTarget implements Target {
  readonly location: string;
  private readonly token: string | undefined;

  constructor(readonly name: string, spec: NonNullable<TargetSpec['admin']>) {
    this.location = spec.url.replace(/\/+$/, '');
    try {
      this.token = spec.tokenFile === undefined ? undefined : readFileSync(spec.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new TargetError(name, `cannot read the token file ${spec.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  async apply(rules: Record<string, unknown>[], expiresAt: Date): Promise<void> {
    for (const rule of rules) await this.call('POST', '/rules', { ...rule, expiresAt: expiresAt.toISOString() }, [200, 201]);
  }

  async remove(names: string[]): Promise<void> {
    for (const name of names) await this.call('DELETE', `/rules/${encodeURIComponent(name)}`, undefined, [204, 404]);
  }

  async list(prefix: string): Promise<string[]> {
    const body = (await this.call('GET', '/rules', undefined, [200])) as { rules?: { name?: unknown }[] };
    return (body.rules ?? []).map((r) => String(r.name)).filter((n) => n.startsWith(prefix));
  }

  async mirror(): Promise<MirrorCounts> {
    const body = (await this.call('GET', '/mirror', undefined, [200])) as { rules?: { rule: string; counts: MirrorCounts[string] }[] };
    const out: MirrorCounts = {};
    for (const { rule, counts } of body.rules ?? []) {
      const sum = (out[rule] ??= { match: 0, drift: 0, shadow_error: 0, skipped: 0 });
      for (const k of ['match', 'drift', 'shadow_error', 'skipped'] as const) sum[k] += counts[k];
    }
    return out;
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, expected: number[]): Promise<unknown> {
    const headers: Record<string, string> = {};
    // Reads too: a sidecar whose admin API is reachable from the pod network guards them.
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    try {
      const res = await request(`${this.location}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new TargetError(this.name, `${method} ${this.location}${path} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    if (!expected.includes(status)) {
      let message = text;
      try {
        message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
      } catch {
        // not JSON: the text as it came
      }
      throw new TargetError(this.name, `${method} ${path} answered ${status}: ${message.slice(0, 500)}`);
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  }
}
