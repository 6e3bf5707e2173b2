import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { FaultEngine } from './engine/engine.js';
import { ListenError, PolicyError, PolicyFileError } from './errors.js';
import { logger as rootLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { compileValidatedInSlices, emptyPolicy, type CompiledPolicy } from './policy/compile.js';
import { fileSourceOf, type PolicyOverlay } from './policy/effective.js';
import { PolicyValidator } from './policy/off-thread.js';
import { SerialQueue } from './serial-queue.js';
import { locateField } from './policy/load.js';
import { parseHostPort } from './net/address.js';
import type { ConnectionMeta } from './policy/match.js';
import type { ListenerSpec } from './policy/schema.js';
import { PolicyWatcher } from './policy/watch.js';
import { Connection, type ConnectionContext } from './proxy/connection.js';
import { captureResolver, type OriginalDestination } from './proxy/capture.js';
import { AcceptedMeta } from './proxy/meta.js';
import { drainConnections } from './proxy/drain.js';
import { FdGuard } from './proxy/fd-guard.js';
import { SlicedRefresh } from './proxy/refresh.js';
import { ProxyListener, type Resolve } from './proxy/listener.js';
import { DnsProxy } from './dns/proxy.js';
import type { DnsUpstream } from './dns/resolv.js';
import { UdpRelay } from './udp/relay.js';
import { TlsAuthority, type TlsFiles } from './tls/authority.js';

export interface SidecarOptions {
  /** Policy file to load and hot-reload. */
  policyFile?: string | undefined;
  /**
   * A missing policy file is no error: the sidecar starts with no fault (and no listener) and
   * applies the file when it appears; when it goes again, its faults go. An invalid file at
   * start is then no error either: it is reported like a bad reload. What an injected sidecar
   * runs with, so that a pod never waits on its ConfigMap.
   */
  allowMissingPolicy?: boolean;
  /** How often the policy file is re-read (ms); directory events trigger a read at once too. */
  pollIntervalMs?: number;
  /** How long SIGTERM waits for live connections before closing them (ms). */
  drainTimeoutMs?: number;
  connectTimeoutMs?: number;
  metrics?: Metrics;
  log?: Logger;
  random?: () => number;
  /** Whether kernel faults (packet_loss) can be installed: on-demand interception only. Default false. */
  kernelFaults?: boolean;
  /** The TLS CA (for `tls: terminate` and CA-signed bad certificates) and the upstreams' trust. */
  tls?: TlsFiles;
  /** How often the TLS files are read again for a rotated CA (ms; default 10 s). */
  tlsPollMs?: number;
}

/**
 * Listeners and rules layered over the file policy at runtime (admin API, Toxiproxy API).
 * Entries are policy-shaped objects, validated with the file as one policy.
 */
export type { PolicyOverlay } from './policy/effective.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A bound listener: TCP (src/proxy/), UDP (src/udp/) or DNS (src/dns/). */
type BoundListener = ProxyListener | UdpRelay | DnsProxy;

interface ExplicitListener {
  listener: BoundListener;
  spec: ListenerSpec;
}

/**
 * The sidecar: owns the policy in force, the listeners, and the live connections. A policy
 * change (file edit, ConfigMap swap) is validated whole, then swapped in whole: listeners are
 * reconciled, and every live connection re-plans its faults. A policy that fails validation
 * or whose listeners cannot bind is refused; the last good one stays.
 */
export class Sidecar {
  readonly engine: FaultEngine;
  readonly metrics: Metrics;
  /** TLS material: the CA, the certificates minted from it, the upstreams' trust (src/tls/). */
  readonly tls: TlsAuthority;
  readonly connections = new Set<Connection>();
  private readonly log: Logger;
  private readonly explicit = new Map<string, ExplicitListener>();
  private readonly extra: BoundListener[] = [];
  private watcher: PolicyWatcher | undefined;
  private tlsTimer: NodeJS.Timeout | undefined;
  private draining = false;
  /** When the last connection was accepted (a drain ends once nothing new came for a while). */
  private lastAcceptAt = 0;
  /** Refuses connections near the fd limit, so that the admin API and /healthz keep answering. */
  private readonly fdGuard = new FdGuard();
  /** Live connections are re-planned in slices (a reload must not stall them). */
  private readonly refresher = new SlicedRefresh();
  /** Validates large policies in a worker thread; compiles run one at a time, in the order asked. */
  private readonly validator = new PolicyValidator();
  private readonly compiling = new SerialQueue();
  private fileText = '';
  private fileSource = '(none)';
  private layered: PolicyOverlay = { listeners: [], rules: [] };
  private readonly changeHooks: (() => Promise<void>)[] = [];
  private settling: Promise<unknown> = Promise.resolve();
  /** On-demand interception, when the sidecar runs it (`GET /policy` shows its state). */
  interception: { view(): object } | undefined;
  /** FaultPolicy objects, when the sidecar watches them (src/faultpolicy/; `GET /policy` shows their state). */
  faultPolicies: { view(): object; summary(): object; document(): object } | undefined;
  /** With allowMissingPolicy: the policy file is not there now (so no fault comes from it). */
  policyMissing = false;
  /** The last reload failure, for the admin API and logs. */
  lastError: { at: Date; message: string } | undefined;
  ready = false;
  /** What every connection gets from the sidecar: one object, not one per connection. */
  private readonly connectionContext: ConnectionContext;

  constructor(private readonly options: SidecarOptions = {}) {
    this.log = (options.log ?? rootLogger).child({ component: 'sidecar' });
    this.metrics = options.metrics ?? new Metrics();
    this.engine = new FaultEngine(Date.now, options.random, { metrics: this.metrics, log: this.log });
    this.tls = new TlsAuthority(options.tls);
    this.connectionContext = {
      engine: this.engine,
      metrics: this.metrics,
      log: this.log,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      random: options.random ?? Math.random,
      tls: this.tls,
      onClose: (c) => this.connections.delete(c),
    };
  }

  get policy(): CompiledPolicy {
    return this.engine.policy;
  }

  /**
   * Loads the policy file (a missing or invalid one is fatal at start, unless allowMissingPolicy),
   * binds, starts watching.
   */
  async start(): Promise<void> {
    const file = this.options.policyFile;
    if (!file) {
      await this.apply(emptyPolicy(), '');
      this.watchTls();
      this.ready = true;
      return;
    }
    const lenient = this.options.allowMissingPolicy === true;
    // The CA is checked at once; an injected sidecar reports it, and policies that need it are refused until it is fixed.
    if (this.tls.configured) {
      await this.tls.reload().catch((err: Error) => {
        if (!lenient) throw err;
        this.log.error({ cause: err.message }, 'TLS CA not usable: policies that need it are refused until it is');
      });
    }
    const text = await readPolicyText(file, lenient);
    if (lenient) {
      await this.apply(emptyPolicy(), '');
      this.policyMissing = text === undefined;
      if (text === undefined) this.log.warn({ file }, 'policy file not found: running with no fault until it appears');
      else await this.reload(text, file);
    } else {
      await this.apply(await this.compileEffective(text as string, file), text as string);
    }
    this.watcher = new PolicyWatcher(
      file,
      (next) => void this.reload(next),
      (err) => this.log.error({ file, cause: err.code ?? err.message }, 'cannot read policy file; keeping the last good policy'),
      this.options.pollIntervalMs ?? 250,
      lenient ? () => void this.policyRemoved(file) : undefined,
    );
    this.watcher.start(text);
    this.watchTls();
    this.ready = true;
  }

  /** Reads the TLS files again every tlsPollMs: a rotated CA (its Secret updated) applies to new connections. */
  private watchTls(): void {
    if (!this.tls.configured) return;
    let lastError: string | undefined;
    this.tlsTimer = setInterval(() => {
      this.tls.reload().then(
        (changed) => {
          lastError = undefined;
          if (changed) this.log.info({ tls: this.tls.view() }, 'TLS files changed: new certificates are minted from them');
        },
        (err: Error) => {
          if (err.message !== lastError) this.log.error({ cause: err.message }, 'TLS files not usable: keeping the CA in force');
          lastError = err.message;
        },
      );
    }, this.options.tlsPollMs ?? 10_000);
    this.tlsTimer.unref();
  }

  /** The policy file went away (its ConfigMap was deleted): its faults go, the runtime layer stays. */
  private async policyRemoved(file: string): Promise<void> {
    this.log.warn({ file }, 'policy file removed: no fault from the file until it appears again');
    try {
      await this.apply(await this.compileEffective('', file), '');
      this.policyMissing = true;
      this.lastError = undefined;
    } catch (err) {
      this.log.error({ cause: (err as Error).message }, 'policy file removed, but the runtime layer alone is not valid; keeping the last policy');
    }
  }

  /** Validates `text` and applies it, or logs why not; never throws. Resolves true when applied. */
  async reload(text: string, source = this.options.policyFile ?? '(inline)'): Promise<boolean> {
    try {
      await this.apply(await this.compileEffective(text, source), text);
      this.lastError = undefined;
      this.policyMissing = false;
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.lastError = { at: new Date(), message };
      this.metrics.policyReloads.inc({ result: 'error' });
      const problems = err instanceof PolicyError ? err.lines() : [message];
      this.log.error({ problems }, `policy rejected, keeping "${this.policy.name}" (${this.policy.hash}): ${problems[0]}`);
      return false;
    }
  }

  /** Applies a compiled policy: binds its listeners, swaps it in, re-plans live connections. */
  async apply(policy: CompiledPolicy, text: string): Promise<void> {
    // TLS first (the CA read again, certificates minted): a policy it refuses binds nothing.
    await this.tls.prepare(policy, text, this.log);
    await this.reconcileListeners(policy, text);
    this.fileText = text;
    this.fileSource = fileSourceOf(policy.source);
    this.engine.setPolicy(policy);
    this.metrics.policyReloads.inc({ result: 'success' });
    this.metrics.setPolicy(policy.name, policy.hash);
    this.log.info(
      { policy: policy.name, hash: policy.hash, source: policy.source, rules: policy.rules.length, enabled: policy.enabled },
      'policy applied',
    );
    this.refreshAll();
    await this.settled();
  }

  /** The runtime layer over the file policy. */
  get overlay(): PolicyOverlay {
    return structuredClone(this.layered);
  }

  /**
   * Replaces the runtime layer. It is validated together with the file policy; on failure a
   * PolicyError is thrown and nothing changes.
   */
  async setOverlay(overlay: PolicyOverlay): Promise<void> {
    const previous = this.layered;
    this.layered = structuredClone(overlay);
    try {
      await this.apply(await this.compileEffective(this.fileText, this.fileSource), this.fileText);
    } catch (err) {
      this.layered = previous;
      throw err;
    }
  }

  /** Re-plans every live connection (policy swap, kill switch), then runs the change hooks. */
  refreshAll(): void {
    const connections = this.refresher.run(this.connections);
    for (const { listener } of this.explicit.values()) if (!(listener instanceof ProxyListener)) listener.refresh();
    this.settling = Promise.all([connections, ...this.changeHooks.map((hook) => hook())]);
  }

  /** Runs `hook` after every policy change and kill-switch flip; `apply` waits for it. It must not throw. */
  onChange(hook: () => Promise<void>): void {
    this.changeHooks.push(hook);
  }

  /** Resolves when the change hooks of the last change are done. */
  async settled(): Promise<void> {
    await this.settling;
  }

  /** Adds a listener whose sockets are routed by `resolve` (transparent capture). */
  async addListener(name: string, host: string, port: number, resolve: Resolve): Promise<ProxyListener> {
    const listener = new ProxyListener(name, host, port, (socket) => this.accept(socket, resolve));
    await listener.listen();
    this.extra.push(listener);
    this.log.info({ listener: name, address: `${listener.address.address}:${listener.address.port}` }, 'listening');
    return listener;
  }

  /**
   * Transparent capture listeners (what `faultline iptables` redirects to): inbound on
   * `inboundPort`, outbound on `outboundPort`, each on all addresses. Rules see their traffic
   * with `direction` and the original destination.
   */
  async addCaptureListeners(ports: { inbound?: number | undefined; outbound?: number | undefined }, originalDestination: OriginalDestination): Promise<void> {
    for (const direction of ['inbound', 'outbound'] as const) {
      const port = ports[direction];
      if (port === undefined) continue;
      const onError = (err: unknown) => this.log.warn({ listener: direction, cause: (err as Error).message }, 'no original destination: connection reset');
      await this.addListener(direction, '0.0.0.0', port, captureResolver(direction, originalDestination, onError));
    }
  }

  /**
   * The transparent DNS proxy (what `faultline iptables --intercept-dns` redirects port 53 to):
   * UDP and TCP on host:port, forwarding to `upstream` (the pod's resolver). Its queries are
   * `direction: outbound` with no listener name, like captured connections.
   */
  async addDnsProxy(host: string, port: number, upstream: DnsUpstream): Promise<DnsProxy> {
    const proxy = new DnsProxy('dns', { host, port }, { direction: 'outbound', upstream: () => upstream }, this.datagramContext);
    await proxy.listen();
    this.extra.push(proxy);
    this.log.info({ listener: 'dns', address: `${proxy.address.address}:${proxy.address.port}`, upstream: `${upstream.host}:${upstream.port}` }, 'listening (DNS, udp and tcp)');
    return proxy;
  }

  /** The transparent DNS proxy, when it runs. */
  get transparentDns(): DnsProxy | undefined {
    return this.extra.find((l): l is DnsProxy => l instanceof DnsProxy);
  }

  /** The DNS proxies and UDP listeners, for the admin API. */
  get datagramListeners(): (DnsProxy | UdpRelay)[] {
    return [...[...this.explicit.values()].map((e) => e.listener), ...this.extra].filter((l): l is DnsProxy | UdpRelay => !(l instanceof ProxyListener));
  }

  /** Bound address of a listener by name (capture listeners are "inbound" and "outbound"). */
  address(name: string): { address: string; port: number } {
    const listener = this.explicit.get(name)?.listener ?? this.extra.find((l) => l.name === name);
    if (!listener) throw new ListenError(`no listener named ${name}`);
    return listener.address;
  }

  /**
   * Graceful stop (see drainConnections): readiness goes false, the listeners keep serving for up
   * to `timeoutMs` while live connections finish, then close; what is left is reset.
   */
  async drain(timeoutMs = this.options.drainTimeoutMs ?? 5000): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.ready = false;
    this.watcher?.stop();
    clearInterval(this.tlsTimer);
    const listeners = [...[...this.explicit.values()].map((e) => e.listener), ...this.extra];
    this.log.info({ live: this.connections.size, timeoutMs, accepting: true, ready: false }, 'draining');
    const cut = await drainConnections(this.connections, () => this.lastAcceptAt, timeoutMs, () => {
      for (const listener of listeners) listener.close();
    });
    await this.engine.close();
    this.validator.close();
    this.log.info({ cut }, cut > 0 ? 'drained: connections still open at the deadline were reset' : 'drained');
  }

  /**
   * The file policy with the runtime layer over it, validated (off the event loop when it is
   * large, src/policy/off-thread.ts) and compiled in slices. What it is made of is taken now.
   */
  private compileEffective(text: string, source: string): Promise<CompiledPolicy> {
    const input = { text, source, overlay: this.layered, kernelFaults: this.options.kernelFaults === true, tlsCa: this.tls.configured };
    return this.compiling.run(async () => {
      const effective = await this.validator.validate(input);
      // Validating, compiling and applying each in turns of their own: none adds to another's.
      await nextTurn();
      const policy = await compileValidatedInSlices(effective.validated, effective.text, effective.source);
      await nextTurn();
      return policy;
    });
  }

  private accept(socket: Socket, resolve: Resolve): void {
    this.lastAcceptAt = Date.now();
    if (!this.fdGuard.admit(this.connections.size, this.lastAcceptAt)) return this.fdGuard.refuse(socket, this.metrics, this.log, this.lastAcceptAt);
    const route = resolve(socket);
    if (!route) return void socket.resetAndDestroy();
    const conn = new Connection(socket, route.meta, route.target, this.connectionContext);
    this.connections.add(conn);
    conn.start();
  }

  /** Routes a listener's sockets to its upstream; the upstream is parsed once per spec, not per connection. */
  private explicitResolver(entry: ExplicitListener): Resolve {
    let parsed: { spec: ListenerSpec; target: { host: string; port: number }; destination: ConnectionMeta['destination'] } | undefined;
    return (socket) => {
      const { spec } = entry;
      if (parsed?.spec !== spec) {
        const target = parseHostPort(spec.upstream) as { host: string; port: number };
        // Shared by the listener's connections: nothing changes a connection's destination.
        const destination = Object.freeze({ address: target.host, port: target.port, host: isIP(target.host) ? undefined : target.host });
        parsed = { spec, target, destination };
      }
      return { meta: new AcceptedMeta(socket, spec.direction, parsed.destination, spec.name), target: parsed.target };
    };
  }

  /** A policy listener of its protocol; UDP and DNS ones read the entry's spec anew for each new flow or query. */
  private explicitListener(entry: ExplicitListener, host: string, port: number): BoundListener {
    const { spec } = entry;
    if (spec.protocol === 'udp') return new UdpRelay(spec.name, { host, port }, () => entry.spec, this.datagramContext);
    if (spec.protocol === 'dns') {
      const upstream = () => parseHostPort(entry.spec.upstream) as DnsUpstream;
      return new DnsProxy(spec.name, { host, port }, { listener: spec.name, direction: spec.direction, upstream }, this.datagramContext);
    }
    const resolve = this.explicitResolver(entry);
    return new ProxyListener(spec.name, host, port, (socket) => this.accept(socket, resolve));
  }

  /** What the UDP and DNS listeners share with the sidecar. */
  private get datagramContext(): { engine: FaultEngine; metrics: Metrics; log: Logger; random: () => number } {
    return { engine: this.engine, metrics: this.metrics, log: this.log, random: this.options.random ?? Math.random };
  }

  /** Binds new listeners first (all or none), then retires the ones the policy dropped. */
  private async reconcileListeners(policy: CompiledPolicy, text: string): Promise<void> {
    const added: ExplicitListener[] = [];
    const keep = new Set<string>();
    for (const [index, spec] of policy.listeners.entries()) {
      const current = this.explicit.get(spec.name);
      if (current && current.spec.listen === spec.listen && current.spec.protocol === spec.protocol) {
        keep.add(spec.name);
        continue;
      }
      const { host, port } = parseHostPort(spec.listen) as { host: string; port: number };
      const entry: ExplicitListener = { spec, listener: undefined as unknown as ProxyListener };
      entry.listener = this.explicitListener(entry, host, port);
      try {
        await entry.listener.listen();
      } catch (err) {
        for (const a of added) a.listener.close();
        const path = ['spec', 'listeners', index, 'listen'];
        const { line, col } = locateField(text, path);
        const detail = (err as Error).message;
        throw new PolicyError(policy.source, [{ path, line, col, message: `spec.listeners[${index}].listen: ${detail}`, field: path, detail, code: 'FL_ERR_LISTEN' }]);
      }
      added.push(entry);
    }
    // Same name, same address: keep the socket, take the new upstream for new connections.
    for (const spec of policy.listeners) {
      const current = this.explicit.get(spec.name);
      if (current && keep.has(spec.name)) current.spec = spec;
    }
    for (const [name, entry] of this.explicit) {
      if (!keep.has(name)) {
        this.explicit.delete(name);
        entry.listener.close();
        this.log.info({ listener: name }, 'listener closed (no longer in the policy)');
      }
    }
    for (const entry of added) {
      this.explicit.set(entry.spec.name, entry);
      const { address, port } = entry.listener.address;
      this.log.info({ listener: entry.spec.name, address: `${address}:${port}`, upstream: entry.spec.upstream }, 'listening');
    }
  }
}

/**
 * The policy file's text; when it does not exist, undefined if `lenient`, else a one-line
 * PolicyFileError (the sidecar exits 1 with it).
 */
async function readPolicyText(file: string, lenient: boolean): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (lenient && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    const why = code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message);
    const hint = code === 'ENOENT' ? ' (--allow-missing-policy starts with no fault until it appears)' : '';
    throw new PolicyFileError(`--policy ${file}: ${why}${hint}`, { cause: err });
  }
}
