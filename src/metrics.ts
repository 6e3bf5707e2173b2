import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const noop = () => undefined;

/** A metric that records nothing (metrics off), with the methods the sidecar calls. */
function disabledMetric<T>(): T {
  const metric = { inc: noop, dec: noop, set: noop, observe: noop, reset: noop, get: async () => ({ values: [] }) };
  return { ...metric, labels: () => metric } as unknown as T;
}

/**
 * What the connections of one listener and direction add up to, in plain numbers. A connection
 * adds to them as it opens and closes; `/metrics` turns them into samples when it is scraped, so
 * a connection costs a few additions instead of hashing label sets six times.
 */
export class ConnectionTally {
  opened = 0;
  active = 0;
  bytesUpstream = 0;
  bytesDownstream = 0;

  constructor(
    readonly labels: Readonly<{ listener: string; direction: string }>,
    private readonly duration: Pick<Histogram<'listener' | 'direction'>, 'observe'>,
  ) {}

  /** A connection was accepted. */
  open(): void {
    this.opened++;
    this.active++;
  }

  /** A connection closed after `seconds`, having relayed these bytes each way. */
  close(seconds: number, bytesUpstream: number, bytesDownstream: number): void {
    this.active--;
    this.bytesUpstream += bytesUpstream;
    this.bytesDownstream += bytesDownstream;
    this.duration.observe(this.labels, seconds);
  }
}

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC) beside faultline's; default on. */
  processMetrics?: boolean;
  /** false: record nothing (the registry stays empty), to measure what metrics cost; default on. */
  enabled?: boolean;
}

/**
 * The faultline_ metrics of SPEC.md, on a Registry of their own (plus Node's process metrics).
 * Everything here is updated per connection or per policy change, never per chunk.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly connectionsTotal: Counter<'listener' | 'direction'>;
  readonly connectionsActive: Gauge<'listener' | 'direction'>;
  readonly connectionDuration: Histogram<'listener' | 'direction'>;
  readonly bytesTotal: Counter<'listener' | 'direction' | 'stream'>;
  readonly faultsInjected: Counter<'rule' | 'fault' | 'listener' | 'direction'>;
  readonly faultsActive: Gauge<'rule' | 'fault'>;
  readonly policyReloads: Counter<'result'>;
  readonly policyInfo: Gauge<'name' | 'hash'>;
  readonly httpRequests: Counter<'code' | 'faulted' | 'listener' | 'direction'>;
  readonly interceptionChanges: Counter<'action'>;
  readonly interceptionRules: Gauge;
  // DNS, UDP (src/dns/, src/udp/): counted per query and per datagram.
  readonly dnsQueries: Counter<'rule' | 'rcode' | 'faulted'>;
  readonly datagrams: Counter<'listener' | 'stream' | 'fate'>;
  // Shadow traffic (src/mirror/): counted per mirrored request.
  readonly mirrorRequests: Counter<'rule' | 'result'>;
  readonly mirrorDriftRatio: Gauge<'rule'>;
  // FaultPolicy objects (src/faultpolicy/): whether the watch is in sync, and each object's fate here.
  readonly faultPolicyWatchUp: Gauge;
  readonly faultPolicies: Gauge<'state'>;
  // Overload (src/proxy/fd-guard.ts): connections refused near the file-descriptor limit.
  readonly overloadRefused: Counter;
  /** Run before `datagrams` is read: UDP listeners count in plain numbers and hand them over then. */
  readonly datagramFlushes = new Set<() => void>();
  /** Per listener, per direction: read by the connection metrics' collect. */
  private readonly tallies = new Map<string, Map<string, ConnectionTally>>();

  constructor(options: MetricsOptions = {}) {
    if (options.enabled === false) {
      this.connectionsTotal = disabledMetric();
      this.connectionsActive = disabledMetric();
      this.connectionDuration = disabledMetric();
      this.bytesTotal = disabledMetric();
      this.faultsInjected = disabledMetric();
      this.faultsActive = disabledMetric();
      this.policyReloads = disabledMetric();
      this.policyInfo = disabledMetric();
      this.httpRequests = disabledMetric();
      this.interceptionChanges = disabledMetric();
      this.interceptionRules = disabledMetric();
      this.dnsQueries = disabledMetric();
      this.datagrams = disabledMetric();
      this.mirrorRequests = disabledMetric();
      this.mirrorDriftRatio = disabledMetric();
      this.faultPolicyWatchUp = disabledMetric();
      this.faultPolicies = disabledMetric();
      this.overloadRefused = disabledMetric();
      return;
    }
    const registers = [this.registry];
    const prefix = 'faultline_';
    const tallies = { values: () => [...this.tallies.values()].flatMap((byDirection) => [...byDirection.values()]) };
    this.connectionsTotal = new Counter({
      name: `${prefix}connections_total`,
      help: 'Connections accepted',
      labelNames: ['listener', 'direction'],
      registers,
      collect(this: Counter<'listener' | 'direction'>) {
        this.reset();
        for (const t of tallies.values()) this.inc(t.labels, t.opened);
      },
    });
    this.connectionsActive = new Gauge({
      name: `${prefix}connections_active`,
      help: 'Connections open now',
      labelNames: ['listener', 'direction'],
      registers,
      collect(this: Gauge<'listener' | 'direction'>) {
        for (const t of tallies.values()) this.set(t.labels, t.active);
      },
    });
    this.connectionDuration = new Histogram({
      name: `${prefix}connection_duration_seconds`,
      help: 'Connection lifetime',
      labelNames: ['listener', 'direction'],
      buckets: [0.005, 0.05, 0.25, 1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.bytesTotal = new Counter({
      name: `${prefix}bytes_total`,
      help: 'Bytes relayed, counted when a connection closes; stream=upstream is client to server',
      labelNames: ['listener', 'direction', 'stream'],
      registers,
      collect(this: Counter<'listener' | 'direction' | 'stream'>) {
        this.reset();
        for (const t of tallies.values()) {
          this.inc({ ...t.labels, stream: 'upstream' }, t.bytesUpstream);
          this.inc({ ...t.labels, stream: 'downstream' }, t.bytesDownstream);
        }
      },
    });
    this.faultsInjected = new Counter({
      name: `${prefix}faults_injected_total`,
      help: 'Times a fault began to apply to a connection (or refused one)',
      labelNames: ['rule', 'fault', 'listener', 'direction'],
      registers,
    });
    this.faultsActive = new Gauge({ name: `${prefix}faults_active`, help: 'Live connections a fault applies to now', labelNames: ['rule', 'fault'], registers });
    this.policyReloads = new Counter({ name: `${prefix}policy_reloads_total`, help: 'Policy loads by result', labelNames: ['result'], registers });
    this.policyInfo = new Gauge({ name: `${prefix}policy_info`, help: 'The policy in force (value 1)', labelNames: ['name', 'hash'], registers });
    this.httpRequests = new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP/gRPC responses on inspected connections (L7 rules), by status code and whether an L7 fault acted on the request',
      labelNames: ['code', 'faulted', 'listener', 'direction'],
      registers,
    });
    this.interceptionChanges = new Counter({
      name: `${prefix}interception_changes_total`,
      help: 'On-demand interception: rules installed (none before), updated, removed (none after), or a change that failed',
      labelNames: ['action'],
      registers,
    });
    this.interceptionRules = new Gauge({ name: `${prefix}interception_rules`, help: 'On-demand interception: iptables rules faultline has installed now', registers });
    this.dnsQueries = new Counter({
      name: `${prefix}dns_queries_total`,
      help: 'DNS queries answered (or left unanswered, rcode="none") by the DNS proxy, by the rule whose fault acted ("" for none) and the rcode the client got',
      labelNames: ['rule', 'rcode', 'faulted'],
      registers,
    });
    this.datagrams = new Counter({
      name: `${prefix}datagrams_total`,
      help: 'UDP listener datagrams by fate: relayed, lost, duplicated (extra copies), reordered, blackholed, overflow (a bound hit), error; stream=upstream is client to server',
      labelNames: ['listener', 'stream', 'fate'],
      registers,
      collect: () => {
        for (const flush of this.datagramFlushes) flush();
      },
    });
    this.mirrorRequests = new Counter({
      name: `${prefix}mirror_requests_total`,
      help: 'Requests copied to a mirror fault\'s shadow upstream, by result: match, drift (the shadow answered differently), shadow_error (no usable answer: refused, reset, timeout), skipped (over a cap, or the primary answer did not complete)',
      labelNames: ['rule', 'result'],
      registers,
    });
    this.mirrorDriftRatio = new Gauge({
      name: `${prefix}mirror_drift_ratio`,
      help: 'Share of drift among the last 100 compared mirrored requests of a rule (match or drift)',
      labelNames: ['rule'],
      registers,
    });
    this.overloadRefused = new Counter({
      name: `${prefix}overload_refused_total`,
      help: 'Connections refused (reset at once) because the process was near its file-descriptor limit; the admin API and health checks keep a reserve',
      registers,
    });
    this.faultPolicyWatchUp = new Gauge({
      name: `${prefix}faultpolicy_watch_up`,
      help: 'FaultPolicy objects: 1 while the watch on the API server is in sync, 0 while it cannot be reached (the last good set stays applied)',
      registers,
    });
    this.faultPolicies = new Gauge({
      name: `${prefix}faultpolicies`,
      help: 'FaultPolicy objects of the namespace by fate in this pod: applied, not-selected, disabled, invalid',
      labelNames: ['state'],
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix });
  }

  /**
   * The tally the connections of `listener` and `direction` add to (made on first use, then
   * the same object): what `connections_total`, `connections_active`, `bytes_total` and
   * `connection_duration_seconds` show for them.
   */
  connectionTally(listener: string, direction: string): ConnectionTally {
    let byDirection = this.tallies.get(listener);
    if (!byDirection) this.tallies.set(listener, (byDirection = new Map()));
    let tally = byDirection.get(direction);
    if (!tally) byDirection.set(direction, (tally = new ConnectionTally(Object.freeze({ listener, direction }), this.connectionDuration)));
    return tally;
  }

  /** Marks `name`/`hash` as the policy in force. */
  setPolicy(name: string, hash: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ name, hash }, 1);
  }
}
