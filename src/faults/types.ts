import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { RequestMeta } from '../policy/match.js';
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
export interface Answer {
  status: number;
  body?: string | undefined;
  grpcStatus?: number | undefined;
  grpcMessage?: string | undefined;
  retryable?: boolean;
  /** Hold the request this long before answering (http_timeout). */
  afterMs?: number | undefined;
}

/** What a request (http, grpc) or a WebSocket message (ws) is, for an L7 fault. */
export type ExchangeProtocol = 'http' | 'grpc' | 'ws';

/**
 * One exchange (an HTTP/1.1 request and its response, an HTTP/2 or gRPC stream, a WebSocket
 * message) as an L7 fault sees it, whatever the protocol: the verbs a fault may call once the
 * engine drew it. Each protocol in src/l7/ carries them out, in one order: a reset or an answer
 * (the first one wins) replaces the upstream; otherwise the request is held, forwarded, and
 * its response held and paced. Every hold is cancelled when the stream or connection ends.
 */
export interface Exchange {
  readonly protocol: ExchangeProtocol;
  /** Holds the request (ws: the message) before it goes on, or (`response`) the response head. */
  hold(ms: number, phase?: 'request' | 'response'): void;
  /** Answers instead of the upstream (after `answer.afterMs`). */
  answer(answer: Answer): void;
  /** Resets instead of answering: HTTP/1.1 the connection (TCP RST), HTTP/2 the stream. */
  reset(): void;
  /** Paces the response (head and body) at `rate` bytes per second. */
  pace(rate: number): void;
  /** WebSocket: drops the message. */
  drop(): void;
  /** WebSocket: sends both peers a Close with `code` and `reason`, then ends the connection. */
  close(code: number, reason: string): void;
  /**
   * Watches the exchange without changing it (mirror): if the request goes upstream, `tap` is
   * handed what passes, after it passed, and never delays it. Not a change: the exchange still
   * counts as unfaulted.
   */
  observe(tap: ExchangeTap): void;
}

/** A request as it went upstream, for an `ExchangeTap`. */
export interface TappedRequest {
  readonly protocol: 'http' | 'grpc';
  readonly method: string;
  /** Path and query as sent (gRPC: /package.Service/Method). */
  readonly target: string;
  /** Lower-case names, hop-by-hop and pseudo headers included as they came (HTTP/2: without the pseudo ones). */
  readonly headers: Readonly<Record<string, string>>;
  /** Where the connection's upstream is (a second request to the primary goes there). */
  readonly upstream: { readonly host: string; readonly port: number };
}

/** A response head as it came from the upstream (1xx excluded), for an `ExchangeTap`. */
export interface TappedResponse {
  readonly status: number;
  /** Lower-case names; HTTP/2 pseudo headers left out. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * What a protocol hands an observing fault, in this order: the request head, its body chunks,
 * its end, the response head, its body chunks, its end (with trailers, HTTP/2 and gRPC), or
 * `abort` where the exchange stops short (a connection that dies says nothing: an observer
 * bounds its own waits). Every call must return at once and must not change the chunks.
 */
export interface ExchangeTap {
  request(head: TappedRequest): void;
  requestData(chunk: Buffer): void;
  requestEnd(): void;
  response(head: TappedResponse): void;
  responseData(chunk: Buffer): void;
  responseEnd(trailers: Readonly<Record<string, string>> | undefined): void;
  abort(reason: string): void;
}

/** What an L7 fault's hook gets besides its options and the exchange. */
export interface ExchangeContext<R = unknown> {
  /** The fault's state shared by every connection (token buckets). */
  readonly shared: SharedState;
  /** Epoch ms. */
  readonly now: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** The request (or WebSocket handshake) the exchange is for. */
  readonly request?: RequestMeta | undefined;
  /** The fault type's sidecar-wide runtime (`FaultType.runtime`), when it has one. */
  readonly runtime?: R | undefined;
  /** The drawn fault: its rule and key (a fault's identity, new whenever it is edited). */
  readonly fault?: { readonly rule: string; readonly key: string } | undefined;
}

/** What a fault type's runtime is made with: the sidecar's metrics and logger. */
export interface FaultEnvironment {
  readonly metrics: Metrics;
  readonly log: Logger;
}

/**
 * Sidecar-wide state of one fault type that outlives connections and policies (the mirror's
 * shadow pools and drift log): made once per engine, on first use.
 */
export interface FaultRuntime {
  /** The policy changed: the keys of this type's faults in force now (state of the others may go). */
  policyChanged?(keys: ReadonlySet<string>): void;
  /** The sidecar stops: release sockets and timers. */
  close?(): Promise<void>;
}

/** A fault's options and probability as Envoy's x-envoy-fault-* request headers set them. */
export interface HeaderOverride<O> {
  options: O;
  probability: number;
}

/** Where an L7 fault acts: on HTTP/gRPC requests, or on WebSocket messages. */
export type FaultLayer = 'http' | 'ws';
/**
 * One fault type: its options, its defaults, and the hooks through which it acts. The engine
 * decides matching, probability, time bounds and `firstConnections` once, centrally; a fault
 * only says what it does once it applies.
 */
export interface FaultType<O extends object = object, R = unknown> {
  readonly type: string;
  /** One line for `faultline validate` and the README. */
  readonly summary: string;
  /** The fault's own fields (the common ones are added by the policy schema). */
  readonly options: z.ZodType<O>;
  /** Default `stream`; null when a direction makes no sense (refuse, rate_limit). */
  readonly defaultStream: StreamOption | null;
  /** Whether `after`/`for` (relative to the connection's start) make sense. */
  readonly timeBounds: boolean;
  /**
   * `probability` is per connection (the default) or the fault's own: per chunk (loss), per
   * datagram (loss, duplicate, reorder on UDP listeners) or per packet (packet_loss).
   */
  readonly probabilityPer?: 'connection' | 'chunk';
  /** Set on L7 faults: they act per request (http) or per message (ws), in rules with an L7 match. */
  readonly layer?: FaultLayer;
  /**
   * Per request or message, once the engine drew the fault: what it does to the exchange.
   * Faults with this hook and no `layer` (rate_limit) act per connection in L4 rules and per
   * request in L7 rules.
   */
  exchange?(options: O, exchange: Exchange, ctx: ExchangeContext<R>): void;
  /** Makes this type's sidecar-wide runtime (once per engine); handed to `exchange` as `ctx.runtime`. */
  runtime?(env: FaultEnvironment): R & FaultRuntime;
  /**
   * Envoy's fault headers for a rule with `allowHeaderOverrides: true`: the options and
   * probability a request's headers ask for, within the rule's own limits; undefined when no
   * header for this fault is present.
   */
  headerOverride?(options: O, headers: Record<string, string>, probability: number): HeaderOverride<O> | undefined;
  /** Random mode's entry for this type: the fault it applies (policy YAML fields). */
  readonly randomDefault?: Record<string, unknown>;
  /**
   * On-demand interception: the kernel rule that applies this fault exactly, when the fault
   * applies to every connection, at once, both ways (partition); undefined otherwise.
   */
  kernelRule?(options: O): 'reject' | 'blackhole' | undefined;
  /** Checked once per new connection before the upstream is dialled; a string refuses it (RST). */
  admit?(options: O, shared: SharedState, now: number): string | undefined;
  /** Runs when the fault starts to apply to a connection, new or live (reset, partition). */
  activate?(options: O, conn: ConnectionControl): void;
  /**
   * Its stage acts only on the bytes passing and on the stream's end (no timer of its own before
   * them): a connection idle when the fault comes gets the stage with its next bytes.
   */
  readonly stageOnData?: boolean;
  /** Builds the stage that acts on one direction's bytes; undefined when this instance needs none. */
  stage?(options: O, ctx: StageContext): FaultStage | undefined;
  /**
   * TLS handshake faults (rules matched by `sni` or `protocol: tls`): what the fault does to the
   * handshake of a connection it applies to (drawn per connection, like any connection fault).
   */
  handshake?(options: O, handshake: Handshake, random: () => number): void;
  /**
   * DNS faults (rules with `match.dns`): what the fault does to one query, once the engine drew
   * it (probability, `firstConnections` and `after`/`for` count queries). src/dns/ carries it out.
   */
  dns?(options: O, query: DnsQuestion, random: () => number): DnsEffect | undefined;
  /**
   * Datagram faults (UDP listeners): the stage acting on one direction of one flow. A fault
   * without it does not apply to UDP listeners; one with only this hook applies to nothing else.
   */
  datagram?(options: O, ctx: DatagramContext): DatagramStage;
  /**
   * Kernel faults: what netfilter must do, installed by on-demand interception's root helper
   * (src/interception/). A fault with this hook is never applied by the sidecar itself.
   */
  kernel?(options: O): KernelEffect;
}

/**
 * A certificate a handshake fault presents, as the kind of misconfigured server it imitates:
 * who signs it, when it is valid, which name it carries and the signature's hash. src/tls/
 * mints it (ECDSA P-256, or the CA's key type) at policy load, per server name.
 */
export interface CertificateSpec {
  /** `ca`: the CA the clients trust (--tls-ca-cert); `self`: the certificate itself; `unknown`: a CA nobody trusts. */
  readonly issuer: 'ca' | 'self' | 'unknown';
  /** Validity relative to the time it is minted, in ms: notBefore = now + validFromMs, notAfter = now + validToMs. */
  readonly validFromMs: number;
  readonly validToMs: number;
  /** The name in the subjectAltName: the one the client asked for, or one that is not it. */
  readonly host: 'requested' | 'other';
  /** The signature's hash (SHA-1 is what OpenSSL 3 refuses at its default security level). */
  readonly hash: 'SHA-256' | 'SHA-1';
}

/** Where a TLS handshake is held: the ClientHello before anything acts on it, or the server's answer to it. */
export type HandshakePhase = 'clienthello' | 'serverhello';

/**
 * The TLS handshake of one connection as a handshake fault sees it (rules matched by `sni` or
 * `protocol: tls`), once the engine drew the fault: the verbs it may call. src/tls/ carries them
 * out before any byte reaches the upstream: holds add up; the first reject or present wins and
 * the upstream is never dialled.
 */
export interface Handshake {
  /** Holds the handshake `ms` at `phase` (default clienthello). */
  hold(ms: number, phase?: HandshakePhase): void;
  /** Answers the ClientHello with a fatal alert (its TLS code) and closes. */
  reject(alert: number): void;
  /** Completes the handshake as the server with a certificate made to `spec`, then closes. */
  present(spec: CertificateSpec): void;
}

/** One DNS question, as DNS rules and faults see it. */
export interface DnsQuestion {
  /** Lower case, without the trailing dot. */
  readonly name: string;
  /** The record type, e.g. "A", "AAAA", "SRV" (a number's text for types the library does not name). */
  readonly type: string;
  /** How the query came: over UDP, or over TCP (a client retrying a truncated answer, or a big one). */
  readonly transport: 'udp' | 'tcp';
}

/** The rcodes dns_error answers with. */
export type DnsErrorRcode = 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';

/**
 * What a DNS fault does to one query. Several may apply: the delays add up, then the first
 * answer-like effect (rcode, drop, answer, truncate) in rule and fault order wins.
 */
export interface DnsEffect {
  /** Hold the query this long before it is answered or forwarded (dns_delay). */
  delayMs?: number;
  /** Answer with this rcode and no records (dns_error). */
  rcode?: DnsErrorRcode;
  /** Never answer (dns_timeout): the client's own timeout fires. */
  drop?: boolean;
  /** Answer with these addresses (those of the query's family); none: an empty answer (dns_answer). */
  answer?: { addresses: string[]; ttl: number };
  /** Answer with the TC bit and no records, so that the client asks again over TCP (dns_truncate). */
  truncate?: boolean;
}

/** What became of a datagram, as `faultline_datagrams_total{fate}` counts it. */
export type DatagramFate = 'relayed' | 'lost' | 'duplicated' | 'reordered' | 'blackholed' | 'overflow' | 'error';

/** What a datagram stage gets when it is created for one direction of one UDP flow. */
export interface DatagramContext {
  readonly direction: StreamDirection;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random: () => number;
  /** Hands a datagram on to the next stage (or to the peer). */
  emit(datagram: Buffer): void;
  /** Counts a datagram's fate (lost, duplicated, ...) in the metrics. */
  count(fate: DatagramFate): void;
}

/**
 * A fault acting on one direction's datagrams. Datagrams may be handed on at once, later, twice
 * or never; held ones are bounded (over the bound they are dropped and counted as overflow).
 */
export interface DatagramStage {
  push(datagram: Buffer): void;
  /** The fault is going away: hand on what is held at once, pass the rest. */
  interrupt(): void;
  /** The flow is gone: drop what is held, cancel every timer. */
  destroy(): void;
}

/** What a kernel fault asks netfilter for, on exactly the packets its rule matches. */
export interface KernelEffect {
  /** Drop each matched packet with this probability (netfilter's statistic match), TCP and UDP. */
  dropProbability: number;
}

/** Identity helper that keeps each fault file's option type. */
export function defineFault<O extends object, R = unknown>(fault: FaultType<O, R>): FaultType<O, R> {
  return fault;
}
