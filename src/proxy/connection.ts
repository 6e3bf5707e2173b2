import { connect, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { FaultEngine, ConnectionFaultState } from '../engine/engine.js';
import type { ConnectionControl, StreamDirection } from '../faults/types.js';
import type { ConnectionTally, Metrics } from '../metrics.js';
import type { CompiledFault } from '../policy/compile.js';
import type { ConnectionMeta } from '../policy/match.js';
import type { TlsHello } from '../l7/detect.js';
import { ConnectionInspector, type InspectorHost } from '../l7/inspect.js';
import { plainKind, ReconnectStage, type PlainKind } from '../l7/reconnect.js';
import type { TlsAuthority } from '../tls/authority.js';
import { TlsFront } from '../tls/front.js';
import { connectionLogBudget } from './close-log.js';
import { allocated } from './debug.js';
import { dialWatch } from './dial-watch.js';
import { Link, type StageEntry } from './link.js';

/** What a connection relays between: the client side and the upstream's two ends. */
interface Wiring {
  toUpstream: Writable;
  fromUpstream: Readable;
  clientSide: Duplex;
}

/** What a connection carries, as far as faultline looked: tcp unless an L7 or SNI rule made it look. */
export type Protocol = 'tcp' | 'http' | 'h2c' | 'ws' | 'tls';

/** How often each fault acted on a connection (began to apply, refused it, or acted on a request). */
interface FaultCount {
  rule: string;
  fault: string;
  count: number;
}

/** What a connection needs from the sidecar that owns it. */
export interface ConnectionContext {
  engine: FaultEngine;
  metrics: Metrics;
  log: Logger;
  /** How long dialling the upstream may take before the client is reset. */
  connectTimeoutMs: number;
  random: () => number;
  /** The sidecar's TLS material: handshake faults and termination (src/tls/). */
  tls?: TlsAuthority | undefined;
  onClose(conn: Connection): void;
}

let sequence = 0;

/** A plain pipe's first client bytes, kept on its socket by one shared handler (no closure per connection). */
const FIRST_BYTES = Symbol('faultline.firstBytes');
type ClientSocket = Socket & { [FIRST_BYTES]?: PlainKind };
function noteFirstBytes(this: ClientSocket, chunk: Buffer): void {
  this[FIRST_BYTES] = plainKind(chunk);
}

/** The faults applying to a connection now, and their stages' state across rewiring. */
interface FaultsNow {
  active: Map<string, CompiledFault>;
  /** Per stage key, what the fault's stage keeps across rewirings (made with the first stage). */
  stageState: Map<string, Record<string, number>> | undefined;
}

/**
 * One proxied connection: the client socket, the upstream socket, and a Link per direction.
 * It asks the engine which faults apply (on open, on every policy change, at time bounds) and
 * rewires its links to match. If the upstream refuses or cannot be reached, the client gets
 * a RST, so that it sees a failure as close as possible to the one it would see directly.
 *
 * A connection no fault, inspection or log line needs costs what a pipe costs: what only those
 * need (the fault maps, an inspector, stages, its child logger, its id string) is built the
 * first time it is needed (`src/proxy/debug.ts` publishes each such allocation).
 */
export class Connection implements ConnectionControl {
  private readonly seq = ++sequence;
  private upstream: Socket | undefined;
  /** The streams relaying, once the upstream is there (`attach`): plain pipes until a fault needs a link. */
  private wiring: Wiring | undefined;
  /** The two links, made the first time a fault needs a stage (most connections never do). */
  private links: { up: Link; down: Link } | undefined;
  /** Set while (and after) an L7 or SNI rule made the connection look at its first bytes. */
  private inspector: ConnectionInspector | undefined;
  private state!: ConnectionFaultState;
  /** Built when the first fault applies: a connection no fault touches stays small. */
  private faultsNow: FaultsNow | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Allocated on the first fault only. */
  private faultCounts: Map<string, FaultCount> | undefined;
  /** Asked to reconnect for an L7 rule (the stage did its part): kept so until it ends. */
  private reconnecting = false;
  /** Aborted when the connection ends: the L7 inspectors' waits listen to it. */
  private l7Ended: AbortController | undefined;
  private detected: Protocol | undefined;
  /** Why faultline ended the connection (a fault, a peer's reset, a drain), for the close line. */
  private endReason: string | undefined;
  /** The connection metrics of its listener and direction (their labels too). */
  private readonly tally: ConnectionTally;
  private childLog: Logger | undefined;
  /** Whether this connection writes a line when it closes (its share of the line budget, taken at open). */
  private logsClose = false;
  /** http_requests_total's children for this connection's labels, by status code (negative: faulted). */
  private requestCounters: Map<number, { inc(): void }> | undefined;

  constructor(
    readonly client: Socket,
    readonly meta: ConnectionMeta,
    private readonly target: { host: string; port: number },
    private readonly ctx: ConnectionContext,
  ) {
    this.tally = ctx.metrics.connectionTally(meta.listener ?? meta.direction, meta.direction);
  }

  /** When the connection was accepted (epoch ms): when `after`/`for` count from. */
  get openedAt(): number {
    return this.state.startedAt;
  }

  /** `c` and a base-36 sequence number, unique in the process. */
  get id(): string {
    return `c${this.seq.toString(36)}`;
  }

  /** This connection's logger (its lines carry `conn`), made on first use. */
  get log(): Logger {
    if (!this.childLog) {
      allocated('logger', this.id);
      this.childLog = this.ctx.log.child({ conn: this.id });
    }
    return this.childLog;
  }

  /** Admits, dials the upstream and starts relaying. */
  start(): void {
    const { engine, log } = this.ctx;
    this.tally.open(this.client);
    if (log.isLevelEnabled('info') && connectionLogBudget.take()) {
      this.logsClose = true;
      // The close line names the client: read it while the socket is open.
      void this.meta.source;
    }
    this.state = engine.open(this.meta);
    // One handler per event for both sockets (`this` is the socket that emitted it), so that a
    // plain connection holds three closures. The listener set TCP_NODELAY on the client already.
    const conn = this;
    const onError = function (this: Socket, err: Error) {
      conn.onSocketError(this === conn.client ? 'client' : 'upstream', err);
    };
    const onClose = function (this: Socket) {
      // A client gone before the upstream answered: abandon the dial.
      if (this === conn.client && !conn.wiring) conn.upstream?.destroy();
      if (this !== conn.client) dialWatch(conn.ctx.connectTimeoutMs).done(this);
      conn.onSocketClose();
    };
    this.client.on('error', onError);
    this.client.on('close', onClose);
    const { refused } = engine.admit(this.state);
    if (refused) {
      this.countFault(refused.fault);
      return this.reset(refused.reason);
    }
    this.refresh();
    if (this.ended) return;

    // Only connections an L7 or SNI rule could apply to are inspected; the rest are plain pipes.
    const inspection = engine.inspection(this.meta);
    if (inspection.requests || inspection.sni) {
      allocated('inspector', this.id);
      this.inspector = new ConnectionInspector(this.l7Host(() => this.dial(onError, onClose)), inspection);
      // Where a handshake fault could apply, the inspector dials once the ClientHello was read.
      if (inspection.handshake) return;
    }
    this.dial(onError, onClose);
  }

  /** Dials the upstream (once); relaying starts when it connects. `onError` and `onClose` are the client's handlers, shared. */
  private dial(onError: (this: Socket, err: Error) => void, onClose: (this: Socket) => void): void {
    if (this.upstream || this.ended) return;
    const conn = this;
    const dials = dialWatch(this.ctx.connectTimeoutMs);
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    this.upstream = upstream;
    dials.watch(upstream);
    upstream.on('error', onError);
    upstream.on('close', onClose);
    upstream.on('connect', function (this: Socket) {
      dials.done(this);
      if (conn.inspector) return conn.inspector.upstreamReady(this);
      // What the first bytes were, so that an L7 rule added later can have it reconnect.
      conn.client.once('data', noteFirstBytes);
      conn.attach(this, this);
    });
  }

  /**
   * Starts relaying: client → toUpstream, fromUpstream → client, as plain pipes (a Link per
   * direction takes one over when a fault needs it). `clientSide` stands in for the client
   * socket (an inspected h2c connection's session end).
   */
  private attach(toUpstream: Writable, fromUpstream: Readable, clientSide: Duplex = this.client): void {
    this.wiring = { toUpstream, fromUpstream, clientSide };
    clientSide.pipe(toUpstream);
    fromUpstream.pipe(clientSide);
    // The faults applying now get their stages (none apply: the links are plain pipes).
    if (this.faultsNow) this.refresh();
    this.client.resume();
  }

  /** What the L7 inspectors (src/l7/) may see and do of this connection. */
  private l7Host(dial: () => void): InspectorHost {
    const { engine, metrics } = this.ctx;
    const conn = this;
    this.l7Ended = new AbortController();
    const host: InspectorHost = {
      id: this.id,
      signal: this.l7Ended.signal,
      engine,
      state: this.state,
      get log() {
        return conn.log;
      },
      client: this.client,
      meta: this.meta,
      countFault: (fault) => this.countFault(fault),
      countRequest: (code, faulted) => {
        if (code === 101) this.detected = 'ws';
        // The labelled child is looked up once per code: a label lookup per request costs more than framing it.
        const key = faulted ? -code : code;
        let counter = this.requestCounters?.get(key);
        if (!counter) {
          counter = metrics.httpRequests.labels({ ...this.tally.labels, code: String(code), faulted: String(faulted) });
          (this.requestCounters ??= new Map()).set(key, counter);
        }
        counter.inc();
      },
      close: (reason) => this.close(reason),
      reset: (reason) => this.reset(reason),
      attach: (toUpstream, fromUpstream, clientSide) => this.attach(toUpstream, fromUpstream, clientSide),
      classified: (kind) => {
        this.detected ??= kind === 'http1' ? 'http' : kind === 'h2' ? 'h2c' : kind === 'tls' ? 'tls' : 'tcp';
      },
      learnedSni: (name) => {
        this.detected = 'tls';
        const { refused } = engine.learnSni(this.state, name);
        if (refused) {
          this.countFault(refused.fault);
          this.reset(refused.reason);
          return false;
        }
        this.refresh();
        return !this.ended;
      },
      dial,
      ...(this.ctx.tls ? { tlsFront: (hello: TlsHello) => new TlsFront(host, this.ctx.tls as TlsAuthority, hello, this.ctx.random) } : {}),
    };
    return host;
  }

  /** Re-asks the engine which faults apply, and applies the difference. */
  refresh(): void {
    if (this.ended) return;
    clearTimeout(this.timer);
    const plan = this.ctx.engine.plan(this.state);
    const reconnect = this.wiring ? this.reconnectEntry() : undefined;
    // Nothing applies and nothing did: nothing to undo, no stage to set.
    if (plan.active.length > 0 || this.faultsNow || reconnect) {
      this.apply(plan.active, reconnect);
      if (this.ended) return;
    }
    if (plan.nextChangeAt !== undefined) {
      // Timers cap at ~24.8 days; a later bound is re-checked then.
      const delay = Math.min(Math.max(0, plan.nextChangeAt - Date.now()), 2 ** 31 - 1);
      this.timer = setTimeout(() => this.refresh(), delay);
    }
  }

  /** Makes `active` the faults applying now: activates the new ones, rewires the links. */
  private apply(active: readonly CompiledFault[], reconnect?: StageEntry): void {
    if (!this.faultsNow) {
      allocated('plan', this.id);
      this.faultsNow = { active: new Map(), stageState: undefined };
    }
    const now = this.faultsNow.active;
    // A handful of faults at most: scanning the list costs less than a map of it.
    for (const [key, fault] of now) {
      if (!active.some((f) => f.key === key)) {
        now.delete(key);
        this.ctx.metrics.faultDeactivated(fault.rule, fault.type.type);
      }
    }
    for (const fault of active) {
      if (now.has(fault.key)) continue;
      now.set(fault.key, fault);
      this.countFault(fault);
      this.ctx.metrics.faultActivated(fault.rule, fault.type.type);
      this.debug({ rule: fault.rule, fault: fault.type.type }, 'fault applies');
      fault.type.activate?.(fault.options, this);
      if (this.ended) return;
    }
    const downstream = this.stagesFor('downstream', active);
    if (reconnect) downstream.push(reconnect);
    this.setStages(this.stagesFor('upstream', active), downstream);
  }

  /** Gives each direction its stages; the links are made the first time either gets one. */
  private setStages(upstream: StageEntry[], downstream: StageEntry[]): void {
    if (!this.wiring) return;
    if (!this.links) {
      if (upstream.length === 0 && downstream.length === 0) return;
      allocated('links', this.id);
      const { toUpstream, fromUpstream, clientSide } = this.wiring;
      this.links = { up: new Link(clientSide, toUpstream, this), down: new Link(fromUpstream, clientSide, this) };
    }
    this.links.up.setStages(upstream);
    this.links.down.setStages(downstream);
  }

  /**
   * A plain-pipe HTTP connection opened before an L7 rule that could apply to it: the stage
   * that has it reconnect gracefully (src/l7/reconnect.ts), unless every such rule opted out.
   */
  private reconnectEntry(): StageEntry | undefined {
    const kind = (this.client as ClientSocket)[FIRST_BYTES];
    if (this.inspector || (kind !== 'http1' && kind !== 'h2')) return undefined;
    if (!this.reconnecting && !this.ctx.engine.inspection(this.meta).reconnect) return undefined;
    const ctx = { conn: this, direction: 'downstream' as const, state: {}, random: this.ctx.random };
    return { key: 'l7:reconnect', create: () => new ReconnectStage(kind, ctx, () => (this.reconnecting = true)) };
  }

  /** A debug line, without making the child logger when debug lines are off. */
  private debug(fields: Record<string, unknown>, message: string): void {
    if (this.ctx.log.isLevelEnabled('debug')) this.log.debug(fields, message);
  }

  /** tcp, or what the first bytes of an inspected connection showed (http, h2c, ws, tls). */
  get protocol(): Protocol {
    return this.detected ?? 'tcp';
  }

  /**
   * The faults that acted on this connection: how often each did, and whether it applies now.
   * `count` is 1 per time a connection fault began to apply (or refused the connection), and 1
   * per request or message an L7 fault acted on.
   */
  faults(): (FaultCount & { active: boolean })[] {
    const active = new Set([...(this.faultsNow?.active.values() ?? [])].map((f) => `${f.rule}/${f.type.type}`));
    return [...(this.faultCounts?.entries() ?? [])].map(([key, c]) => ({ ...c, active: active.has(key) }));
  }

  /** Stages in both directions' chains now (0: plain pipes, or stages waiting for the next bytes). */
  stageDepth(): number {
    return this.links ? this.links.up.depth + this.links.down.depth : 0;
  }

  /** A snapshot for logs and the admin API (`GET /connections`). */
  describe(): Record<string, unknown> {
    return {
      id: this.id,
      listener: this.meta.listener ?? this.meta.direction,
      direction: this.meta.direction,
      source: `${this.meta.source.address}:${this.meta.source.port}`,
      destination: `${this.target.host}:${this.target.port}`,
      protocol: this.protocol,
      openedAt: new Date(this.openedAt).toISOString(),
      ageMs: Date.now() - this.openedAt,
      bytesUpstream: this.client.bytesRead,
      bytesDownstream: this.client.bytesWritten,
      faults: this.faults(),
    };
  }

  /** Stops reading both sockets (a drain does, before it resets what is left). */
  stopReading(): void {
    this.client.pause();
    this.upstream?.pause();
  }

  reset(reason: string): void {
    if (this.ended) return;
    this.endReason ??= reason;
    this.debug({ reason }, 'reset');
    this.client.resetAndDestroy();
    this.upstream?.resetAndDestroy();
    this.onSocketClose();
  }

  close(reason: string): void {
    if (this.ended) return;
    this.endReason ??= reason;
    this.debug({ reason }, 'close');
    this.client.destroy();
    this.upstream?.destroy();
    this.onSocketClose();
  }

  private stagesFor(direction: StreamDirection, active: readonly CompiledFault[]): StageEntry[] {
    const entries: StageEntry[] = [];
    for (const fault of active) {
      if (!fault.type.stage || !fault.streams.includes(direction)) continue;
      const key = `${fault.key}:${direction}`;
      entries.push({
        key,
        onData: fault.type.stageOnData === true,
        create: () => {
          const stageState = ((this.faultsNow as FaultsNow).stageState ??= new Map());
          let state = stageState.get(key);
          if (!state) stageState.set(key, (state = {}));
          const stage = fault.type.stage?.(fault.options, { conn: this, direction, state, random: this.ctx.random });
          if (stage) allocated('stage', this.id);
          return stage;
        },
      });
    }
    return entries;
  }

  private countFault(fault: CompiledFault): void {
    this.ctx.metrics.faultsInjected.inc({ rule: fault.rule, fault: fault.type.type, ...this.tally.labels });
    const key = `${fault.rule}/${fault.type.type}`;
    this.faultCounts ??= new Map();
    const count = this.faultCounts.get(key);
    if (count) count.count++;
    else this.faultCounts.set(key, { rule: fault.rule, fault: fault.type.type, count: 1 });
  }

  /**
   * One line per closed connection: its totals and the faults that acted on it (rate-limited:
   * the budget is taken when the connection opens). Written through the sidecar's logger with
   * `conn` first, as the child logger would write it, so that it needs no child logger.
   */
  private logClose(durationMs: number): void {
    const { log } = this.ctx;
    if (!this.logsClose) return;
    const suppressed = connectionLogBudget.takeSuppressed();
    const faults: Record<string, number> = {};
    for (const [key, c] of this.faultCounts ?? []) faults[key] = c.count;
    (this.childLog ?? log).info(
      {
        ...(this.childLog ? {} : { conn: this.id }),
        listener: this.tally.labels.listener,
        direction: this.meta.direction,
        source: `${this.meta.source.address}:${this.meta.source.port}`,
        destination: `${this.target.host}:${this.target.port}`,
        protocol: this.protocol,
        durationMs,
        bytesUpstream: this.client.bytesRead,
        bytesDownstream: this.client.bytesWritten,
        faults,
        ...(this.endReason ? { reason: this.endReason } : {}),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      'connection closed',
    );
  }

  private onSocketError(side: 'client' | 'upstream', err: Error & { code?: string }): void {
    // An HTTP client being inspected gets the SPEC's 503/504 instead of a RST.
    if (side === 'upstream' && !this.wiring && this.inspector?.upstreamFailed(err)) {
      this.log.warn({ cause: err.code ?? err.message, upstream: `${this.target.host}:${this.target.port}` }, 'upstream unreachable: answering the HTTP client');
      return;
    }
    if (side === 'upstream' && !this.wiring) {
      this.log.warn({ cause: err.code ?? err.message, upstream: `${this.target.host}:${this.target.port}` }, 'upstream unreachable: resetting client');
    } else {
      this.debug({ side, cause: err.code ?? err.message }, 'socket error: resetting the other side');
    }
    this.endReason ??= `${side} ${err.code ?? err.message}`;
    // Pass the failure on as it happened: an abort on one side is an abort on the other.
    if (side === 'upstream') this.client.resetAndDestroy();
    else this.upstream?.resetAndDestroy();
  }

  private onSocketClose(): void {
    if (this.ended) return;
    if (!this.client.destroyed || (this.upstream && !this.upstream.destroyed)) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.l7Ended?.abort();
    this.links?.up.destroy();
    this.links?.down.destroy();
    if (this.faultsNow) {
      const { metrics } = this.ctx;
      for (const fault of this.faultsNow.active.values()) metrics.faultDeactivated(fault.rule, fault.type.type);
      this.faultsNow.active.clear();
    }
    const durationMs = Date.now() - this.openedAt;
    this.tally.close(this.client, durationMs / 1000);
    this.logClose(durationMs);
    this.ctx.onClose(this);
  }
}
