import { channel } from 'node:diagnostics_channel';

/**
 * What a connection builds beyond a plain pipe, and only once something needs it: a fault
 * `stage`, the `links` that rewire its two directions around stages, an L7/SNI `inspector`, its
 * own child `logger`, its fault `plan` (the maps of active faults and their stage state).
 */
export type Allocation = 'stage' | 'links' | 'inspector' | 'logger' | 'plan';

/**
 * Debug hook: each such allocation is published on this channel as `{ kind, conn }` (the
 * connection id). Without a subscriber publishing costs a property read; tests subscribe to
 * prove that a plain connection builds none of them.
 */
export const allocations = channel('faultline:connection:allocate');

/** Publishes one allocation of `conn`, when someone listens. */
export function allocated(kind: Allocation, conn: string): void {
  if (allocations.hasSubscribers) allocations.publish({ kind, conn });
}
