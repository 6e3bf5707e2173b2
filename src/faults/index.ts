import { bandwidth } from './bandwidth.js';
import { blackhole } from './blackhole.js';
import { dnsAnswer } from './dns-answer.js';
import { dnsDelay } from './dns-delay.js';
import { dnsError } from './dns-error.js';
import { dnsTimeout } from './dns-timeout.js';
import { dnsTruncate } from './dns-truncate.js';
import { duplicate } from './duplicate.js';
import { httpAbort } from './http-abort.js';
import { httpDelay } from './http-delay.js';
import { httpReset } from './http-reset.js';
import { httpThrottle } from './http-throttle.js';
import { httpTimeout } from './http-timeout.js';
import { latency } from './latency.js';
import { limitData } from './limit-data.js';
import { loss } from './loss.js';
import { mirror } from './mirror.js';
import { packetLoss } from './packet-loss.js';
import { partition } from './partition.js';
import { rateLimit } from './rate-limit.js';
import { refuse } from './refuse.js';
import { reorder } from './reorder.js';
import { reset } from './reset.js';
import { slicer } from './slicer.js';
import { slowClose } from './slow-close.js';
import { timeout } from './timeout.js';
import { tlsCertificate } from './tls-certificate.js';
import { tlsDelay } from './tls-delay.js';
import { tlsReject } from './tls-reject.js';
import type { FaultType } from './types.js';
import { wsClose } from './ws-close.js';
import { wsDelay } from './ws-delay.js';
import { wsDrop } from './ws-drop.js';

/** Every connection-level fault type, listed explicitly. */
export const connectionFaults: FaultType<any>[] = [
  latency, bandwidth, reset, timeout, blackhole, refuse, partition, slowClose, slicer, limitData, loss, rateLimit,
];

/** Every L7 fault type (per request or per WebSocket message), listed explicitly. */
export const requestFaults: FaultType<any>[] = [httpAbort, httpDelay, httpThrottle, httpTimeout, httpReset, mirror, wsDelay, wsDrop, wsClose];

/** TLS handshake faults (per connection, in rules matched by `sni` or `protocol: tls`), listed explicitly. */
export const handshakeFaults: FaultType<any>[] = [tlsReject, tlsCertificate, tlsDelay];

/** DNS faults (per query, in rules with `match.dns`), listed explicitly. */
export const dnsFaults: FaultType<any>[] = [dnsError, dnsDelay, dnsTimeout, dnsAnswer, dnsTruncate];

/** Faults only datagrams (UDP listeners) or the kernel know; latency, loss, bandwidth, blackhole act on datagrams too. */
export const packetFaults: FaultType<any>[] = [duplicate, reorder, packetLoss];

/** The registry: policy `type:` → fault type. */
export const faultRegistry: ReadonlyMap<string, FaultType<any>> = new Map([...connectionFaults, ...requestFaults, ...handshakeFaults, ...dnsFaults, ...packetFaults].map((f) => [f.type, f]));

export type { FaultType, StreamDirection, StreamOption, ConnectionControl, StageContext, Exchange, ExchangeContext, ExchangeTap, Answer, FaultLayer, DnsEffect, DnsQuestion, DatagramStage, DatagramContext, DatagramFate, KernelEffect, Handshake, HandshakePhase, CertificateSpec } from './types.js';
