import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version.js';

const noop = () => undefined;

/** A metric that records nothing (metrics off), with the methods the sidecar calls. */
function disabledMetric<T>(): T {
  const metric = { inc: noop, dec: noop, set: noop, observe: noop, reset: noop, get: async () => ({ values: [] }) };
  return { ...metric, labels: () => metric } as unknown as T;
}

/** Upper bounds (seconds) of `connection_duration_seconds`'s buckets, +Inf aside. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.005, 0.05, 0.25, 1, 5, 30, 120, 600, 3600]);

/**
 * What the connections of one listener and direction add up to, in plain numbers. A connection
 * adds to them as it opens and closes; `/metrics` turns them into samples when it is scraped, so
 * a connection costs a few additions instead of hashing label sets seven times.
 */
export class ConnectionTally {
  opened = 0;
  active = 0;
  bytesUpstream = 0;
  bytesDownstream = 0;
  /** Closed connections by lifetime: a count per bucket of DURATION_BUCKETS (not cumulative), the last one above them all. */
  readonly durations: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  /** Their lifetimes added up, in seconds. */
  durationSum = 0;
  /** The client sockets of the open connections: their bytes so far count in bytes_total at each scrape. */
  private readonly live = new Set<LiveBytes>();

  constructor(readonly labels: Readonly<{ listener: string; direction: string }>) {}

  /** A connection was accepted; `client` is its client socket (bytesRead: upstream, bytesWritten: downstream). */
  open(client: LiveBytes): void {
    this.opened++;
    this.active++;
    this.live.add(client);
  }

  /** A connection closed after `seconds`: its bytes move from the live sum to the closed total. */
  close(client: LiveBytes, seconds: number): void {
    this.active--;
    this.live.delete(client);
    this.bytesUpstream += client.bytesRead;
    this.bytesDownstream += client.bytesWritten;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket++;
    (this.durations[bucket] as number)++;
    this.durationSum += seconds;
  }

  /**
   * Bytes relayed so far each way, closed and open connections together: read at each scrape,
   * so long-lived connections show their traffic while it flows. One pass over the open
   * connections per scrape (a property read each), nothing per chunk; it never goes down, since
   * a closing connection's bytes move from one sum to the other.
   */
  bytes(): { upstream: number; downstream: number } {
    let upstream = this.bytesUpstream;
    let downstream = this.bytesDownstream;
    for (const client of this.live) {
      upstream += client.bytesRead;
      downstream += client.bytesWritten;
    }
    return { upstream, downstream };
  }
}

/** What a tally reads from a live connection: its client socket's byte counts. */
export interface LiveBytes {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** prom-client's own gauges named `_total` (promtool refuses the suffix on a gauge); nodejs_active_handles{type} and the others keep the same numbers by type. */
const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC) beside faultline's; default on. */
  processMetrics?: boolean;
  /** false: record nothing (the registry stays empty), to measure what metrics cost; default on. */
  enabled?: boolean;
}

type DurationLabels = 'listener' | 'direction';

/**
 * `connection_duration_seconds`, made from the tallies' bucket counts at each scrape (as the
 * counters above are from their numbers): a closing connection adds 1 to a bucket instead of
 * prom-client hashing its label set. The same samples prom-client's Histogram would give.
 */
class TallyHistogram extends Histogram<DurationLabels> {
  constructor(
    private readonly metricName: string,
    private readonly helpText: string,
    registers: Registry[],
    private readonly tallies: { values(): ConnectionTally[] },
  ) {
    super({ name: metricName, help: helpText, labelNames: ['listener', 'direction'], buckets: [...DURATION_BUCKETS], registers });
  }

  /**
   * The samples, in the form prom-client's registry formats (`le` first, then the listener and
   * direction); prom-client's own `get()` reads them from here too, and joins each one's labels.
   */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: DurationSample[] }> {
    const bucket = `${this.metricName}_bucket`;
    const values: DurationSample[] = [];
    for (const t of this.tallies.values()) {
      const count = t.durations.reduce((a, b) => a + b, 0);
      // As prom-client's own: a series once a connection of it has closed.
      if (count === 0) continue;
      let cumulative = 0;
      for (const [i, le] of DURATION_BUCKETS.entries()) {
        cumulative += t.durations[i] as number;
        values.push({ labels: { le }, sharedLabels: t.labels, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: t.labels, value: count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: t.labels, value: t.durationSum, metricName: `${this.metricName}_sum` });
      values.push({ labels: {}, sharedLabels: t.labels, value: count, metricName: `${this.metricName}_count` });
    }
    return { name: this.metricName, help: this.helpText, type: 'histogram', aggregator: 'sum', values };
  }
}

/** One sample of connection_duration_seconds, its listener and direction apart (prom-client's `sharedLabels`). */
interface DurationSample {
  labels: { le?: number | '+Inf' };
  sharedLabels: Readonly<Record<DurationLabels, string>>;
  value: number;
  metricName: string;
}

/**
 * The faultline_ metrics, on a Registry of their own, plus Node's standard process_* and
 * nodejs_* metrics under their usual names (so stock dashboards work). Everything here is
 * updated per connection or per policy change, never per chunk.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly connectionsTotal: Counter<'listener' | 'direction'>;
  readonly connectionsActive: Gauge<'listener' | 'direction'>;
  readonly connectionDuration: Histogram<'listener' | 'direction'>;
  readonly bytesTotal: Counter<'listener' | 'direction' | 'stream'>;
  readonly faultsInjected: Counter<'rule' | 'fault' | 'listener' | 'direction'>;
  readonly faultsActive: Gauge<'rule' | 'fault'>;
  readonly buildInfo: Gauge<'version' | 'nodejs_version'>;
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
  /** Live connections per rule and fault (key rule NUL fault): faults_active shows those above 0 only. */
  private readonly activeFaults = new Map<string, { labels: { rule: string; fault: string }; count: number }>();
  private readonly enabled: boolean;

  constructor(options: MetricsOptions = {}) {
    this.enabled = options.enabled !== false;
    if (options.enabled === false) {
      this.connectionsTotal = disabledMetric();
      this.connectionsActive = disabledMetric();
      this.connectionDuration = disabledMetric();
      this.bytesTotal = disabledMetric();
      this.faultsInjected = disabledMetric();
      this.faultsActive = disabledMetric();
      this.buildInfo = disabledMetric();
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
    this.connectionDuration = new TallyHistogram(`${prefix}connection_duration_seconds`, 'Connection lifetime', registers, tallies);
    this.bytesTotal = new Counter({
      name: `${prefix}bytes_total`,
      help: 'Bytes relayed, open connections included (read at each scrape); stream=upstream is client to server',
      labelNames: ['listener', 'direction', 'stream'],
      registers,
      collect(this: Counter<'listener' | 'direction' | 'stream'>) {
        this.reset();
        for (const t of tallies.values()) {
          const bytes = t.bytes();
          this.inc({ ...t.labels, stream: 'upstream' }, bytes.upstream);
          this.inc({ ...t.labels, stream: 'downstream' }, bytes.downstream);
        }
      },
    });
    this.faultsInjected = new Counter({
      name: `${prefix}faults_injected_total`,
      help: 'Times a fault began to apply to a connection (or refused one)',
      labelNames: ['rule', 'fault', 'listener', 'direction'],
      registers,
    });
    const activeFaults = this.activeFaults;
    this.faultsActive = new Gauge({
      name: `${prefix}faults_active`,
      help: 'Live connections a fault applies to now (a rule and fault applying to none has no series)',
      labelNames: ['rule', 'fault'],
      registers,
      collect(this: Gauge<'rule' | 'fault'>) {
        this.reset();
        for (const { labels, count } of activeFaults.values()) this.set(labels, count);
      },
    });
    this.buildInfo = new Gauge({ name: `${prefix}build_info`, help: 'The faultline version and the Node.js it runs on (value 1)', labelNames: ['version', 'nodejs_version'], registers });
    this.buildInfo.set({ version: VERSION, nodejs_version: process.version }, 1);
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
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(name);
    }
  }

  /**
   * Process-wide totals since start (connections opened and open now, HTTP/gRPC responses,
   * faults injected): what `/ui` turns into its per-second charts.
   */
  async totals(): Promise<{ connectionsOpened: number; connectionsActive: number; requests: number; faultsInjected: number }> {
    let connectionsOpened = 0;
    let connectionsActive = 0;
    for (const byDirection of this.tallies.values()) {
      for (const t of byDirection.values()) {
        connectionsOpened += t.opened;
        connectionsActive += t.active;
      }
    }
    const sum = async (metric: Counter<string>) => (await metric.get()).values.reduce((n, v) => n + v.value, 0);
    return { connectionsOpened, connectionsActive, requests: await sum(this.httpRequests as Counter<string>), faultsInjected: await sum(this.faultsInjected as Counter<string>) };
  }

  /** A fault began to apply to a live connection (faults_active + 1). */
  faultActivated(rule: string, fault: string): void {
    if (!this.enabled) return;
    const key = `${rule}\0${fault}`;
    const entry = this.activeFaults.get(key);
    if (entry) entry.count++;
    else this.activeFaults.set(key, { labels: { rule, fault }, count: 1 });
  }

  /** A fault stopped applying to a live connection (it was removed, or the connection closed); at 0 the series goes. */
  faultDeactivated(rule: string, fault: string): void {
    const key = `${rule}\0${fault}`;
    const entry = this.activeFaults.get(key);
    if (entry && --entry.count <= 0) this.activeFaults.delete(key);
  }

  /**
   * The rules in force are `rules`: the per-rule series of the others (faults injected, DNS
   * queries, mirror results and drift) go, so that rules that come and go (experiments, runtime
   * rules) do not add series forever. A rule still applying to a live connection keeps its
   * faults_active series until that ends.
   */
  async retainRules(rules: ReadonlySet<string>): Promise<void> {
    if (!this.enabled) return;
    for (const metric of [this.faultsInjected, this.dnsQueries, this.mirrorRequests, this.mirrorDriftRatio] as Counter<string>[]) {
      for (const { labels } of (await metric.get()).values) {
        const rule = labels.rule;
        if (typeof rule === 'string' && rule !== '' && !rules.has(rule)) metric.remove(labels as Record<string, string>);
      }
    }
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
    if (!tally) byDirection.set(direction, (tally = new ConnectionTally(Object.freeze({ listener, direction }))));
    return tally;
  }

  /** Marks `name`/`hash` as the policy in force. */
  setPolicy(name: string, hash: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ name, hash }, 1);
  }
}
