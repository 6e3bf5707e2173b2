import { bandwidth } from './bandwidth.js';
import { blackhole } from './blackhole.js';
import { httpAbort } from './http-abort.js';
import { httpDelay } from './http-delay.js';
import { httpReset } from './http-reset.js';
import { httpThrottle } from './http-throttle.js';
import { httpTimeout } from './http-timeout.js';
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
import { wsClose } from './ws-close.js';
import { wsDelay } from './ws-delay.js';
import { wsDrop } from './ws-drop.js';

/** Every connection-level fault type, listed explicitly. */
export const connectionFaults: FaultType<any>[] = [
  latency, bandwidth, reset, timeout, blackhole, refuse, partition, slowClose, slicer, limitData, loss, rateLimit,
];

/** Every L7 fault type (per request or per WebSocket message), listed explicitly. */
export const requestFaults: FaultType<any>[] = [httpAbort, httpDelay, httpThrottle, httpTimeout, httpReset, wsDelay, wsDrop, wsClose];

/** The registry: policy `type:` → fault type. */
export const faultRegistry: ReadonlyMap<string, FaultType<any>> = new Map([...connectionFaults, ...requestFaults].map((f) => [f.type, f]));

export type { FaultType, StreamDirection, StreamOption, ConnectionControl, StageContext, Exchange, ExchangeContext, Answer, FaultLayer } from './types.js';
