import { z } from 'zod';
import { envoyInteger, envoyPercentage } from './envoy-headers.js';
import { defineFault } from './types.js';

interface HttpAbortOptions {
  status?: number | undefined;
  /** One of these per request, drawn uniformly (instead of one `status`). */
  statuses?: number[] | undefined;
  body?: string | undefined;
  grpcStatus?: number | undefined;
  grpcMessage?: string | undefined;
}

const status = z.number().int().min(200, 'status must be 200-599').max(599, 'status must be 200-599');

/**
 * Answers the request itself instead of the upstream: HTTP `status` (or one of `statuses`, drawn
 * per request) with the SPEC's JSON error body (or `body` when given); for gRPC, HTTP 200 with
 * `grpc-status`/`grpc-message` trailers.
 */
export const httpAbort = defineFault<HttpAbortOptions>({
  type: 'http_abort',
  summary: 'answer with status, or one of statuses (gRPC: grpcStatus, grpcMessage), instead of the upstream',
  layer: 'http',
  options: z
    .strictObject({
      status: status.optional(),
      statuses: z.array(status).min(1, 'statuses needs at least one status').max(32).optional(),
      body: z.string().max(65536, 'body is at most 64 KiB').optional(),
      grpcStatus: z.number().int().min(1, 'grpcStatus must be 1-16 (0 is OK, not an error)').max(16, 'grpcStatus must be 1-16').optional(),
      grpcMessage: z.string().max(4096).optional(),
    })
    .refine((o) => o.status === undefined || o.statuses === undefined, { message: 'give status or statuses, not both', path: ['statuses'] })
    .transform((o) => (o.statuses ? o : { ...o, status: o.status ?? 503 })),
  defaultStream: null,
  timeBounds: true,
  exchange: (options, x, { random }) => {
    const { statuses, ...rest } = options;
    const status = statuses ? (statuses[Math.floor(random() * statuses.length)] as number) : (rest.status ?? 503);
    x.answer({ ...rest, status, retryable: status >= 500 || status === 429 });
  },
  // x-envoy-fault-abort-request (HTTP status) or -abort-grpc-request (gRPC status).
  headerOverride: (options, headers, probability) => {
    const status = envoyInteger(headers, 'abort-request', 200, 599);
    const grpcStatus = envoyInteger(headers, 'abort-grpc-request', 0, 16);
    if (status === undefined && grpcStatus === undefined) return undefined;
    const next = { ...options, ...(status !== undefined ? { status, statuses: undefined } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}) };
    return { options: next, probability: envoyPercentage(headers, status !== undefined ? 'abort-request' : 'abort-grpc-request', probability) };
  },
  randomDefault: { type: 'http_abort', status: 503 },
});
