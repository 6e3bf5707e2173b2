/**
 * Named scenarios: a rule that says `scenario: NAME` gets these faults (its own `faults:`
 * entries merge over them, see expand.ts). Each is a list of policy fault entries, written as
 * a user would write them, with at most one fault of each type so that an override names the
 * fault it changes by its type. Listed explicitly; `faultline scenarios` prints them.
 */
export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /**
   * `connection`: connection faults, for any TCP traffic. `http`: faults per request, so the
   * rule is an L7 rule (`match.protocol: http` is added when the match has no L7 part).
   */
  readonly layer: 'connection' | 'http';
  readonly faults: readonly Readonly<Record<string, unknown>>[];
  /**
   * Per fault type of `faults`, what replaces it where the sidecar installs kernel faults
   * (on-demand interception) and the rule matches captured traffic (no listener): real packet
   * loss instead of emulated stalls. Overrides written for the replaced type apply to it.
   */
  readonly kernel?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

const networkDegradation: Scenario = {
  name: 'network_degradation',
  summary: 'a congested, lossy link: 500 ms ± 20% latency, 5% of chunks stalled by a retransmission, 100 KiB/s',
  layer: 'connection',
  faults: [
    { type: 'latency', latency: '500ms', jitter: '100ms' },
    { type: 'loss', probability: 0.05, retransmitDelay: '200ms' },
    { type: 'bandwidth', rate: '100KiB/s' },
  ],
  kernel: { loss: { type: 'packet_loss', probability: 0.05 } },
};

const serviceInstability: Scenario = {
  name: 'service_instability',
  summary: 'a flapping service: 20% of requests answered 500/502/503/504, 10% time out (504 after 30 s)',
  layer: 'http',
  faults: [
    { type: 'http_abort', statuses: [500, 502, 503, 504], probability: 0.2 },
    { type: 'http_timeout', timeout: '30s', probability: 0.1 },
  ],
};

const cascadingFailure: Scenario = {
  name: 'cascading_failure',
  summary: 'an overloaded dependency: 10 req/s admitted, 10% resets, 30% errors, 20% timeouts, 1-5 s delays',
  layer: 'http',
  faults: [
    { type: 'rate_limit', rate: 10, burst: 10 },
    { type: 'http_reset', probability: 0.1 },
    { type: 'http_abort', statuses: [500, 502, 503], probability: 0.3 },
    { type: 'http_timeout', timeout: '30s', probability: 0.2 },
    { type: 'http_delay', delay: '3s', jitter: '2s' },
  ],
};

const peakTraffic: Scenario = {
  name: 'peak_traffic',
  summary: 'admission control under a peak: 50 req/s with bursts of 10, the rest answered 429',
  layer: 'http',
  faults: [{ type: 'rate_limit', rate: 50, burst: 10 }],
};

const slowBackend: Scenario = {
  name: 'slow_backend',
  summary: 'a slow upstream: every answer 2 s ± 10% late',
  layer: 'connection',
  faults: [{ type: 'latency', latency: '2s', jitter: '200ms' }],
};

const partition: Scenario = {
  name: 'partition',
  summary: 'a network partition: new connections refused, live ones cut (RST)',
  layer: 'connection',
  faults: [{ type: 'partition', mode: 'reject' }],
};

export const scenarios: readonly Scenario[] = [networkDegradation, serviceInstability, cascadingFailure, peakTraffic, slowBackend, partition];

/** The registry: `scenario:` → scenario. */
export const scenarioRegistry: ReadonlyMap<string, Scenario> = new Map(scenarios.map((s) => [s.name, s]));
