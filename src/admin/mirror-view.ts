import { z } from 'zod';
import { mirror } from '../faults/mirror.js';
import { DRIFT_LOG_ENTRIES } from '../mirror/drift-log.js';
import type { MirrorSummary } from '../mirror/hub.js';
import type { Sidecar } from '../sidecar.js';
import { parseQuery } from './views.js';

const mirrorQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(DRIFT_LOG_ENTRIES).default(DRIFT_LOG_ENTRIES),
  rule: z.string().optional(),
});

/**
 * GET /mirror: each mirror fault's counters (match, drift, shadow_error, skipped), its drift
 * ratio over its last compared requests, what noise learning learned, and the newest drifts
 * (at most `limit`, of `rule` only when given): method, path, status each side and the first
 * differences, every value cut short. A read: it needs `view` where reads are guarded.
 */
export function mirrorView(sidecar: Sidecar, query: URLSearchParams): Record<string, unknown> {
  const q = parseQuery(mirrorQuery, query);
  return sidecar.engine.runtimeOf(mirror)?.view(q.limit, q.rule) ?? {};
}

/** Per mirror fault: rule, upstream, counters and recent drift ratio (GET /faults `mirror`, the /ui). */
export function mirrorSummary(sidecar: Sidecar): MirrorSummary[] {
  return sidecar.engine.runtimeOf(mirror)?.summary() ?? [];
}
