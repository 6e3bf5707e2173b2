import { z } from 'zod';
import { duration } from '../policy/units.js';
import { defineFault } from './types.js';

interface HttpTimeoutOptions {
  timeout: number;
}

/**
 * What a client sees when the upstream does not answer in time behind a proxy: the request is
 * held for `timeout`, never reaches the upstream, then gets 504 (gRPC: 4 DEADLINE_EXCEEDED). A
 * client whose own timeout is shorter gives up first, as it would against a hung upstream.
 */
export const httpTimeout = defineFault<HttpTimeoutOptions>({
  type: 'http_timeout',
  summary: 'hold the request for timeout, then answer 504 (gRPC: DEADLINE_EXCEEDED)',
  layer: 'http',
  options: z.strictObject({ timeout: duration.default(30_000) }),
  defaultStream: null,
  timeBounds: true,
  exchange: (options, x) => x.answer({ status: 504, grpcStatus: 4, grpcMessage: `no answer within ${options.timeout} ms`, retryable: true, afterMs: options.timeout }),
  randomDefault: { type: 'http_timeout', timeout: '5s' },
});
