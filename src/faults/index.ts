import { bandwidth } from './bandwidth.js';
import { blackhole } from './blackhole.js';
import { latency } from './latency.js';
import { limitData } from './limit-data.js';
import { loss } from './loss.js';
import { partition } from './partition.js';
import { rateLimit } from './rate-limit.js';
import { refuse } from './refuse.js';
import { reset } from './reset.js';
import { slicer } from './slicer.js';
import { slowClose } from './slow-close.js';
import { timeout } from './timeout.js';
import type { FaultType } from './types.js';

/** Every connection-level fault type, listed explicitly. */
export const connectionFaults: FaultType<any>[] = [
  latency, bandwidth, reset, timeout, blackhole, refuse, partition, slowClose, slicer, limitData, loss, rateLimit,
];

/** The registry: policy `type:` → fault type. */
export const faultRegistry: ReadonlyMap<string, FaultType<any>> = new Map(connectionFaults.map((f) => [f.type, f]));

export type { FaultType, StreamDirection, StreamOption, ConnectionControl, StageContext } from './types.js';
