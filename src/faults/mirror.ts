import { z } from 'zod';
import type { CompareOptions } from '../mirror/compare.js';
import { MirrorHub } from '../mirror/hub.js';
import { jsonPathProblem, type Tolerance } from '../mirror/json-diff.js';
import { parseMirrorUpstream, type MirrorUpstream } from '../mirror/upstream.js';
import { compileGlob, type RequestMeta } from '../policy/match.js';
import { duration, size } from '../policy/units.js';
import { defineFault } from './types.js';

export interface MirrorOptions {
  /** As written: HOST:PORT or an http(s) URL. */
  upstream: string;
  target: MirrorUpstream;
  /** Upper-case HTTP methods, and gRPC method globs ("/pkg.Service/*"). */
  methods: string[];
  /** The gRPC globs of `methods`, compiled. */
  grpcMethods: RegExp[];
  timeout: number;
  maxBodyBytes: number;
  concurrency: number;
  compare: CompareOptions;
}

/** Writes to a shadow are dangerous (a DR copy would charge a card twice): only reads are copied unless listed. */
export const DEFAULT_METHODS = ['GET', 'HEAD', 'OPTIONS'];

const tolerance = z.union([
  z.number().min(0, 'tolerance must not be negative'),
  z.string().regex(/^\d+(\.\d+)?%$/, 'tolerance is a number (absolute) or a percentage such as "1%" (relative)'),
]);

const compare = z
  .strictObject({
    status: z.boolean().default(true),
    headers: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')).max(32).default([]),
    body: z.enum(['exact', 'json', 'none']).default('exact'),
    ignore: z
      .array(z.string().max(256))
      .max(64)
      .default([])
      .superRefine((paths, ctx) => {
        for (const [i, path] of paths.entries()) {
          const problem = jsonPathProblem(path);
          if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(path)}: ${problem}`, path: [i] });
        }
      }),
    tolerance: tolerance.optional(),
    noise: z.enum(['learn', 'off']).default('off'),
  })
  .default({ status: true, headers: [], body: 'exact', ignore: [], noise: 'off' })
  .transform((c): CompareOptions => {
    const t = c.tolerance;
    const parsed: Tolerance | undefined = t === undefined ? undefined : typeof t === 'number' ? { absolute: t } : { relative: Number(t.slice(0, -1)) / 100 };
    return { status: c.status, headers: c.headers.map((h) => h.toLowerCase()), body: c.body, ignore: c.ignore, tolerance: parsed, noise: c.noise };
  });

const method = z.string().regex(/^([A-Za-z]+|\/[A-Za-z0-9_.*?/-]+)$/, 'expected an HTTP method (GET) or a gRPC method ("/pkg.Service/Method", globs allowed)');

/** Whether a mirror fault copies this request: its method listed (gRPC: POST, or a glob on /pkg.Service/Method); never WebSocket handshakes. */
export function mirrors(options: MirrorOptions, request: RequestMeta): boolean {
  if (request.protocol === 'ws') return false;
  if (request.protocol === 'http') return options.methods.includes(request.method.toUpperCase());
  return options.methods.includes('POST') || options.grpcMethods.some((glob) => glob.test(request.path));
}

/**
 * Shadow traffic: copies the requests it applies to (probability: the share copied) to a second
 * upstream and compares that answer with the primary's, counting each as match, drift,
 * shadow_error or skipped (faultline_mirror_requests_total) and logging drifts (GET /mirror).
 * The client's answer is the primary's, byte for byte, never delayed: the comparison gets a
 * copy off the client's path (src/mirror/).
 */
export const mirror = defineFault<MirrorOptions, MirrorHub>({
  type: 'mirror',
  summary: 'copy requests to a shadow upstream and compare its answers with the primary\'s (the client always gets the primary\'s)',
  layer: 'http',
  options: z
    .strictObject({
      upstream: z.string({ message: 'mirror needs an upstream: HOST:PORT or an http(s) URL' }),
      methods: z.array(method).min(1).max(64).default(DEFAULT_METHODS),
      timeout: duration.default(5000).refine((v) => v > 0, 'timeout must be greater than 0'),
      maxBodyBytes: size.default(1024 * 1024).refine((v) => v <= 64 * 1024 * 1024, 'maxBodyBytes is at most 64MiB'),
      concurrency: z.number().int().min(1, 'concurrency must be at least 1').max(256, 'concurrency is at most 256').default(32),
      compare,
    })
    .transform((o, ctx) => {
      const target = parseMirrorUpstream(o.upstream);
      if (!target) {
        ctx.addIssue({ code: 'custom', message: `upstream ${JSON.stringify(o.upstream)}: expected HOST:PORT or an http:// or https:// URL without a path`, path: ['upstream'] });
        return z.NEVER;
      }
      const methods = o.methods.map((m) => (m.startsWith('/') ? m : m.toUpperCase()));
      const grpcMethods = methods.filter((m) => m.startsWith('/')).map((m) => compileGlob(m));
      return { ...o, target, methods, grpcMethods, maxBodyBytes: Math.floor(o.maxBodyBytes) };
    }),
  defaultStream: null,
  timeBounds: true,
  exchange: (options, x, { request, runtime, fault, random }) => {
    if (!request || !runtime || !fault || !mirrors(options, request)) return;
    x.observe(runtime.tap(fault, options, random));
  },
  runtime: (env) => new MirrorHub(env),
});
