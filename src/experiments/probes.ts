import { connect } from 'node:net';
import { Client } from 'undici';
import { parseHostPort } from '../net/address.js';
import type { ProbeSpec } from './schema.js';

/** One poll of a probe: `t` is ms since the run started, `latencyMs` until the answer (or failure). */
export interface Sample {
  probe: string;
  t: number;
  ok: boolean;
  latencyMs: number;
  status?: number;
  error?: string;
}

export type ProbeResult = Omit<Sample, 'probe' | 't'>;

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Whether `status` is what the probe expects (default 200-399). */
function expected(spec: ProbeSpec, status: number): boolean {
  const want = spec.http?.status;
  if (want === undefined) return status >= 200 && status < 400;
  return Array.isArray(want) ? want.includes(status) : want === status;
}

/**
 * An HTTP probe: one request on a new connection each time (a kept-alive connection would not
 * see L7 rules added after it opened, nor a partition's refusals), failed when the status is not
 * expected, when it takes longer than `maxLatency`, or on any error or `timeout`.
 */
async function httpSample(spec: ProbeSpec): Promise<ProbeResult> {
  const http = spec.http as NonNullable<ProbeSpec['http']>;
  const url = new URL(http.url);
  const client = new Client(url.origin, { headersTimeout: spec.timeout, bodyTimeout: spec.timeout, connectTimeout: spec.timeout, pipelining: 0 });
  const started = performance.now();
  const timer = new AbortController();
  const deadline = setTimeout(() => timer.abort(), spec.timeout);
  try {
    const res = await client.request({ path: `${url.pathname}${url.search}`, method: http.method, headers: { ...http.headers, connection: 'close' }, signal: timer.signal });
    await res.body.dump({ limit: 1024 * 1024 });
    const latencyMs = round(performance.now() - started);
    if (!expected(spec, res.statusCode)) return { ok: false, latencyMs, status: res.statusCode, error: `status ${res.statusCode}` };
    if (spec.maxLatency !== undefined && latencyMs > spec.maxLatency) return { ok: false, latencyMs, status: res.statusCode, error: `slower than ${spec.maxLatency} ms` };
    return { ok: true, latencyMs, status: res.statusCode };
  } catch (err) {
    const latencyMs = round(performance.now() - started);
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const error = timer.signal.aborted ? `timeout after ${spec.timeout} ms` : (e.cause?.code ?? e.code ?? e.message);
    return { ok: false, latencyMs, error };
  } finally {
    clearTimeout(deadline);
    client.destroy().catch(() => undefined);
  }
}

/** A TCP probe: connects, succeeds once connected (within `maxLatency`), then closes. */
function tcpSample(spec: ProbeSpec): Promise<ProbeResult> {
  // Validated by the experiment schema with the same parser.
  const { host, port } = parseHostPort((spec.tcp as NonNullable<ProbeSpec['tcp']>).address) as { host: string; port: number };
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, latencyMs: round(performance.now() - started), error: `timeout after ${spec.timeout} ms` }), spec.timeout);
    socket.once('connect', () => {
      const latencyMs = round(performance.now() - started);
      const slow = spec.maxLatency !== undefined && latencyMs > spec.maxLatency;
      done(slow ? { ok: false, latencyMs, error: `slower than ${spec.maxLatency} ms` } : { ok: true, latencyMs });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, latencyMs: round(performance.now() - started), error: err.code ?? err.message }));
  });
}

/** Takes one sample of a probe. Never throws: a failure is a failed sample. */
export function sample(spec: ProbeSpec): Promise<ProbeResult> {
  return spec.http ? httpSample(spec) : tcpSample(spec);
}

/** What a probe watches, for reports. */
export function probeTarget(spec: ProbeSpec): string {
  return spec.http ? `${spec.http.method} ${spec.http.url}` : `tcp ${spec.tcp?.address}`;
}
