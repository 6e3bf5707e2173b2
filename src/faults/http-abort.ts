import { z } from 'zod';
import { defineFault } from './types.js';

interface HttpAbortOptions {
  status: number;
  body?: string | undefined;
  grpcStatus?: number | undefined;
  grpcMessage?: string | undefined;
}

/**
 * Answers the request itself instead of the upstream: HTTP `status` with the SPEC's JSON error
 * body (or `body` when given); for gRPC, HTTP 200 with `grpc-status`/`grpc-message` trailers.
 */
export const httpAbort = defineFault<HttpAbortOptions>({
  type: 'http_abort',
  summary: 'answer with status (gRPC: grpcStatus, grpcMessage) instead of the upstream',
  layer: 'http',
  options: z.strictObject({
    status: z.number().int().min(200, 'status must be 200-599').max(599, 'status must be 200-599').default(503),
    body: z.string().max(65536, 'body is at most 64 KiB').optional(),
    grpcStatus: z.number().int().min(1, 'grpcStatus must be 1-16 (0 is OK, not an error)').max(16, 'grpcStatus must be 1-16').optional(),
    grpcMessage: z.string().max(4096).optional(),
  }),
  defaultStream: null,
  timeBounds: true,
  request: (options) => ({ abort: { ...options, retryable: options.status >= 500 || options.status === 429 } }),
});
