import { connect, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { ConnectTimeoutError } from '../errors.js';
import type { FaultEngine, ConnectionFaultState } from '../engine/engine.js';
import type { ConnectionControl, StreamDirection } from '../faults/types.js';
import type { Metrics } from '../metrics.js';
import type { CompiledFault } from '../policy/compile.js';
import type { ConnectionMeta } from '../policy/match.js';
import { ConnectionInspector, type InspectorHost } from '../l7/inspect.js';
import { plainKind, ReconnectStage, type PlainKind } from '../l7/reconnect.js';
import { connectionLogBudget } from './close-log.js';
import { Link, type StageEntry } from './link.js';

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
  onClose(conn: Connection): void;
}

let sequence = 0;

/**
 * One proxied connection: the client socket, the upstream socket, and a Link per direction.
 * It asks the engine which faults apply (on open, on every policy change, at time bounds) and
 * rewires its links to match. If the upstream refuses or cannot be reached, the client gets
 * a RST, so that it sees a failure as close as possible to the one it would see directly.
 */
export class Connection implements ConnectionControl {
  readonly id = `c${(++sequence).toString(36)}`;
  readonly openedAt = Date.now();
  private upstream: Socket | undefined;
  private links: Record<StreamDirection, Link> | undefined;
  /** Set while (and after) an L7 or SNI rule made the connection look at its first bytes. */
  private inspector: ConnectionInspector | undefined;
  /** A plain pipe's first client bytes, so that an L7 rule added later can have it reconnect. */
  private plain: PlainKind | undefined;
  /** Asked to reconnect for an L7 rule (the stage did its part): kept so until it ends. */
  private reconnecting = false;
  /** Aborted when the connection ends: the L7 inspectors' waits listen to it. */
  private l7Ended: AbortController | undefined;
  private state!: ConnectionFaultState;
  private readonly active = new Map<string, CompiledFault>();
  private readonly stageState = new Map<string, Record<string, number>>();
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Allocated on the first fault only: a connection no fault touches stays small. */
  private faultCounts: Map<string, FaultCount> | undefined;
  private detected: Protocol | undefined;
  /** Why faultline ended the connection (a fault, a peer's reset, a drain), for the close line. */
  private endReason: string | undefined;
  private readonly labels: { listener: string; direction: string };
  /** http_requests_total's children for this connection's labels, by status code (negative: faulted). */
  private requestCounters: Map<number, { inc(): void }> | undefined;
  readonly log: Logger;

  constructor(
    readonly client: Socket,
    readonly meta: ConnectionMeta,
    private readonly target: { host: string; port: number },
    private readonly ctx: ConnectionContext,
  ) {
    this.labels = { listener: meta.listener ?? meta.direction, direction: meta.direction };
    this.log = ctx.log.child({ conn: this.id });
  }

  /** Admits, dials the upstream and starts relaying. */
  start(): void {
    const { engine, metrics } = this.ctx;
    metrics.connectionsTotal.inc(this.labels);
    metrics.connectionsActive.inc(this.labels);
    this.client.setNoDelay(true);
    this.client.on('error', (err) => this.onSocketError('client', err));
    this.client.once('close', () => {
      // A client gone before the upstream answered: abandon the dial.
      if (!this.links) this.upstream?.destroy();
      this.onSocketClose();
    });
    this.state = engine.open(this.meta);
    const { refused } = engine.admit(this.state);
    if (refused) {
      this.countFault(refused.fault);
      return this.reset(refused.reason);
    }
    this.refresh();
    if (this.ended) return;

    // Only connections an L7 or SNI rule could apply to are inspected; the rest are plain pipes.
    const inspection = engine.inspection(this.meta);
    if (inspection.requests || inspection.sni) this.inspector = new ConnectionInspector(this.l7Host(), inspection);
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    this.upstream = upstream;
    upstream.setTimeout(this.ctx.connectTimeoutMs, () => upstream.destroy(new ConnectTimeoutError(this.ctx.connectTimeoutMs)));
    upstream.on('error', (err) => this.onSocketError('upstream', err));
    upstream.once('close', () => this.onSocketClose());
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      if (this.inspector) return this.inspector.upstreamReady(upstream);
      this.client.once('data', (chunk: Buffer) => (this.plain = plainKind(chunk)));
      this.attach(upstream, upstream);
    });
  }

  /**
   * Starts relaying, a Link per direction: client → toUpstream, fromUpstream → client.
   * `clientSide` stands in for the client socket (an inspected h2c connection's session end).
   */
  private attach(toUpstream: Writable, fromUpstream: Readable, clientSide: Duplex = this.client): void {
    this.links = {
      upstream: new Link(clientSide, toUpstream, this),
      downstream: new Link(fromUpstream, clientSide, this),
    };
    this.refresh();
    this.client.resume();
  }

  /** What the L7 inspectors (src/l7/) may see and do of this connection. */
  private l7Host(): InspectorHost {
    const { engine, metrics } = this.ctx;
    this.l7Ended = new AbortController();
    return {
      id: this.id,
      signal: this.l7Ended.signal,
      engine,
      state: this.state,
      log: this.log,
      client: this.client,
      meta: this.meta,
      countFault: (fault) => this.countFault(fault),
      countRequest: (code, faulted) => {
        if (code === 101) this.detected = 'ws';
        // The labelled child is looked up once per code: a label lookup per request costs more than framing it.
        const key = faulted ? -code : code;
        let counter = this.requestCounters?.get(key);
        if (!counter) {
          counter = metrics.httpRequests.labels({ ...this.labels, code: String(code), faulted: String(faulted) });
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
          return this.reset(refused.reason);
        }
        this.refresh();
      },
    };
  }

  /** Re-asks the engine which faults apply, and applies the difference. */
  refresh(): void {
    if (this.ended) return;
    clearTimeout(this.timer);
    const plan = this.ctx.engine.plan(this.state);
    const wanted = new Map(plan.active.map((f) => [f.key, f]));
    for (const [key, fault] of this.active) {
      if (!wanted.has(key)) {
        this.active.delete(key);
        this.ctx.metrics.faultsActive.dec({ rule: fault.rule, fault: fault.type.type });
      }
    }
    for (const [key, fault] of wanted) {
      if (this.active.has(key)) continue;
      this.active.set(key, fault);
      this.countFault(fault);
      this.ctx.metrics.faultsActive.inc({ rule: fault.rule, fault: fault.type.type });
      this.log.debug({ rule: fault.rule, fault: fault.type.type }, 'fault applies');
      fault.type.activate?.(fault.options, this);
      if (this.ended) return;
    }
    if (this.links) {
      const reconnect = this.reconnectEntry();
      for (const direction of ['upstream', 'downstream'] as const) {
        const entries = this.stagesFor(direction, plan.active);
        if (reconnect && direction === 'downstream') entries.push(reconnect);
        this.links[direction].setStages(entries);
      }
    }
    if (plan.nextChangeAt !== undefined) {
      // Timers cap at ~24.8 days; a later bound is re-checked then.
      const delay = Math.min(Math.max(0, plan.nextChangeAt - Date.now()), 2 ** 31 - 1);
      this.timer = setTimeout(() => this.refresh(), delay);
    }
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
    const active = new Set([...this.active.values()].map((f) => `${f.rule}/${f.type.type}`));
    return [...(this.faultCounts?.entries() ?? [])].map(([key, c]) => ({ ...c, active: active.has(key) }));
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

  reset(reason: string): void {
    if (this.ended) return;
    this.endReason ??= reason;
    this.log.debug({ reason }, 'reset');
    this.client.resetAndDestroy();
    this.upstream?.resetAndDestroy();
    this.onSocketClose();
  }

  close(reason: string): void {
    if (this.ended) return;
    this.endReason ??= reason;
    this.log.debug({ reason }, 'close');
    this.client.destroy();
    this.upstream?.destroy();
    this.onSocketClose();
  }

  /**
   * A plain-pipe HTTP connection opened before an L7 rule that could apply to it: the stage
   * that has it reconnect gracefully (src/l7/reconnect.ts), unless every such rule opted out.
   */
  private reconnectEntry(): StageEntry | undefined {
    const kind = this.plain;
    if (this.inspector || (kind !== 'http1' && kind !== 'h2')) return undefined;
    if (!this.reconnecting && !this.ctx.engine.inspection(this.meta).reconnect) return undefined;
    const ctx = { conn: this, direction: 'downstream' as const, state: {}, random: this.ctx.random };
    return { key: 'l7:reconnect', create: () => new ReconnectStage(kind, ctx, () => (this.reconnecting = true)) };
  }

  private stagesFor(direction: StreamDirection, active: CompiledFault[]): StageEntry[] {
    const entries: StageEntry[] = [];
    for (const fault of active) {
      if (!fault.type.stage || !fault.streams.includes(direction)) continue;
      const key = `${fault.key}:${direction}`;
      entries.push({
        key,
        create: () => {
          let state = this.stageState.get(key);
          if (!state) this.stageState.set(key, (state = {}));
          return fault.type.stage?.(fault.options, { conn: this, direction, state, random: this.ctx.random });
        },
      });
    }
    return entries;
  }

  private countFault(fault: CompiledFault): void {
    this.ctx.metrics.faultsInjected.inc({ rule: fault.rule, fault: fault.type.type, ...this.labels });
    const key = `${fault.rule}/${fault.type.type}`;
    this.faultCounts ??= new Map();
    const count = this.faultCounts.get(key);
    if (count) count.count++;
    else this.faultCounts.set(key, { rule: fault.rule, fault: fault.type.type, count: 1 });
  }

  /** One line per closed connection: its totals and the faults that acted on it (rate-limited). */
  private logClose(durationMs: number): void {
    if (!this.log.isLevelEnabled('info') || !connectionLogBudget.take()) return;
    const suppressed = connectionLogBudget.takeSuppressed();
    const faults: Record<string, number> = {};
    for (const [key, c] of this.faultCounts ?? []) faults[key] = c.count;
    this.log.info(
      {
        listener: this.labels.listener,
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
    if (side === 'upstream' && !this.links && this.inspector?.upstreamFailed(err)) {
      this.log.warn({ cause: err.code ?? err.message, upstream: `${this.target.host}:${this.target.port}` }, 'upstream unreachable: answering the HTTP client');
      return;
    }
    if (side === 'upstream' && !this.links) {
      this.log.warn({ cause: err.code ?? err.message, upstream: `${this.target.host}:${this.target.port}` }, 'upstream unreachable: resetting client');
    } else {
      this.log.debug({ side, cause: err.code ?? err.message }, 'socket error: resetting the other side');
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
    if (this.links) {
      this.links.upstream.destroy();
      this.links.downstream.destroy();
    }
    const { metrics } = this.ctx;
    for (const fault of this.active.values()) metrics.faultsActive.dec({ rule: fault.rule, fault: fault.type.type });
    this.active.clear();
    metrics.connectionsActive.dec(this.labels);
    const durationMs = Date.now() - this.openedAt;
    metrics.connectionDuration.observe(this.labels, durationMs / 1000);
    metrics.bytesTotal.inc({ ...this.labels, stream: 'upstream' }, this.client.bytesRead);
    metrics.bytesTotal.inc({ ...this.labels, stream: 'downstream' }, this.client.bytesWritten);
    this.logClose(durationMs);
    this.ctx.onClose(this);
  }
}
