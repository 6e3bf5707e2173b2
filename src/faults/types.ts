import type { z } from 'zod';
import type { FaultStage } from './stage.js';

/** A direction of a connection: upstream is client→server, downstream is server→client. */
export type StreamDirection = 'upstream' | 'downstream';
export type StreamOption = StreamDirection | 'both';

/** What a fault may do to the connection it acts on. Every method is idempotent. */
export interface ConnectionControl {
  readonly id: string;
  /** Abort both sides with a TCP RST. */
  reset(reason: string): void;
  /** Close both sides (FIN), dropping whatever is still in flight. */
  close(reason: string): void;
}

/** What a stage gets when it is created for one direction of one connection. */
export interface StageContext {
  readonly conn: ConnectionControl;
  readonly direction: StreamDirection;
  /**
   * State that survives rewiring: when the chain is rebuilt (another fault added or removed),
   * the new stage of the same fault gets the same object, so byte counts and deadlines hold.
   */
  readonly state: Record<string, number>;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random: () => number;
}

/** Shared, per-fault state that outlives connections (token buckets, counters). */
export type SharedState = Record<string, number>;

/** An answer faultline gives instead of the upstream: HTTP status and body, or a gRPC status. */
export interface AbortEffect {
  status: number;
  body?: string | undefined;
  grpcStatus?: number | undefined;
  grpcMessage?: string | undefined;
  retryable?: boolean;
  /** Hold the request this long before answering (http_timeout). */
  afterMs?: number | undefined;
}

/**
 * What an L7 fault does to one request (http, grpc) or one message (ws) once the engine drew it.
 * The L7 inspectors (src/l7/) carry it out.
 */
export interface RequestEffect {
  abort?: AbortEffect;
  delay?: { ms: number; phase: 'request' | 'response' };
  /** Response bytes per second. */
  throttle?: number;
  wsDelay?: number;
  wsDrop?: boolean;
  wsClose?: { code: number; reason: string };
  /** End the connection with a TCP RST instead of answering (HTTP/2: reset the stream). */
  reset?: boolean;
}

/** Where an L7 fault acts: on HTTP/gRPC requests, or on WebSocket messages. */
export type FaultLayer = 'http' | 'ws';
/**
 * One fault type: its options, its defaults, and the hooks through which it acts. The engine
 * decides matching, probability, time bounds and `firstConnections` once, centrally; a fault
 * only says what it does once it applies.
 */
export interface FaultType<O extends object = object> {
  readonly type: string;
  /** One line for `faultline validate` and the README. */
  readonly summary: string;
  /** The fault's own fields (the common ones are added by the policy schema). */
  readonly options: z.ZodType<O>;
  /** Default `stream`; null when a direction makes no sense (refuse, rate_limit). */
  readonly defaultStream: StreamOption | null;
  /** Whether `after`/`for` (relative to the connection's start) make sense. */
  readonly timeBounds: boolean;
  /** `probability` is per connection (the default) or, for loss, per chunk inside the stage. */
  readonly probabilityPer?: 'connection' | 'chunk';
  /** Set on L7 faults: they act per request (http) or per message (ws), in rules with an L7 match. */
  readonly layer?: FaultLayer;
  /**
   * Per request or message, once the engine drew the fault: what it does. Faults with this hook
   * and no `layer` (rate_limit) act per connection in L4 rules and per request in L7 rules.
   */
  request?(options: O, shared: SharedState, now: number, random: () => number): RequestEffect | undefined;
  /** Checked once per new connection before the upstream is dialled; a string refuses it (RST). */
  admit?(options: O, shared: SharedState, now: number): string | undefined;
  /** Runs when the fault starts to apply to a connection, new or live (reset, partition). */
  activate?(options: O, conn: ConnectionControl): void;
  /** Builds the stage that acts on one direction's bytes; undefined when this instance needs none. */
  stage?(options: O, ctx: StageContext): FaultStage | undefined;
}

/** Identity helper that keeps each fault file's option type. */
export function defineFault<O extends object>(fault: FaultType<O>): FaultType<O> {
  return fault;
}
