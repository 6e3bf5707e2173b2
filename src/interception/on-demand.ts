import type { Logger } from '../log.js';
import type { Sidecar } from '../sidecar.js';
import { interceptionDemand, type Capture, type DemandReport } from './demand.js';
import type { RuleInstaller } from './helper-client.js';
import { SerialQueue } from '../serial-queue.js';

export interface OnDemandOptions {
  /** How long installed rules stay in force without a renewal (ms); renewed every third of it. */
  leaseMs: number;
  /** Which capture listeners (and whether the DNS proxy) exist to redirect to. */
  capture: Capture;
  log: Logger;
  clock?: () => number;
}

/** What `GET /policy` says of on-demand interception. */
export interface OnDemandView {
  mode: 'on-demand';
  installed: boolean;
  /** The rules in the kernel that act now, as the commands they amount to. */
  rules: string[];
  /** Redirect chains no rule jumps to, kept while connections redirected before may last. */
  lingering: string[];
  redirect: DemandReport['redirect'];
  partition: DemandReport['partition'];
  /** The pod's DNS goes to the DNS proxy. */
  dns: boolean;
  loss: NonNullable<DemandReport['loss']>;
  notes: string[];
  leaseUntil: string | null;
  changedAt: string | null;
  lastError: { at: string; message: string } | null;
}

const keyOf = (d: { redirect: unknown[]; partition: unknown[]; dns?: boolean | undefined; loss?: unknown[] | undefined }) =>
  JSON.stringify({ redirect: d.redirect, partition: d.partition, dns: d.dns === true, loss: d.loss ?? [] });
const EMPTY_KEY = keyOf({ redirect: [], partition: [] });
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * On-demand interception, the sidecar's side: after every policy change and kill-switch flip
 * (and at the policy's `expiresAt`) it works out what the policy needs (demand.ts) and has the
 * root helper install exactly that, or remove everything when no fault is active. Changes run
 * one at a time and each acts on the state of that moment, so a burst of changes ends in the
 * right rules. While rules are installed their lease is renewed every third of its length;
 * should this process hang or die, the rules stop acting when the lease ends.
 */
export class OnDemandInterception {
  private readonly queue = new SerialQueue();
  /** The demand installed, as JSON; undefined when unknown (the last change failed). */
  private installedKey: string | undefined = EMPTY_KEY;
  private report: DemandReport = { redirect: [], partition: [], notes: [] };
  private rules: string[] = [];
  private lingering: string[] = [];
  private leaseEnd = 0;
  private changedAt: number | undefined;
  private lastError: { at: number; message: string } | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The nat hooks wait for the last redirected connection to close before they go. */
  private natPrunePending = false;
  private stopped = false;
  private readonly clock: () => number;

  constructor(
    private readonly sidecar: Sidecar,
    private readonly installer: RuleInstaller,
    private readonly options: OnDemandOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** Starts following the sidecar's changes; resolves once the policy's rules are in place. */
  async start(): Promise<void> {
    this.sidecar.onChange(() => this.update());
    this.renewTimer = setInterval(() => this.tick(), Math.max(250, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
    await this.update();
  }

  /** Brings the rules in line with the policy and engine state of now. */
  update(): Promise<void> {
    return this.enqueue(() => this.sync(false));
  }

  /** Removes every rule (SIGTERM, before the drain: new connections go direct from then on). */
  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    clearTimeout(this.expiryTimer);
    await this.enqueue(async () => {
      this.stopped = true;
      if (this.installedKey === EMPTY_KEY) return;
      await this.install({ redirect: [], partition: [], notes: this.report.notes }, EMPTY_KEY, false);
    });
  }

  /** After the drain: every connection is closed, so the lingering chains and empty built-in chains go too. */
  async close(): Promise<void> {
    await this.enqueue(async () => {
      try {
        this.record(await this.installer.prune(true));
      } catch (err) {
        this.options.log.warn({ cause: (err as Error).message }, 'empty chains not removed at exit (the helper removes them when it sees the sidecar gone)');
      }
    });
  }

  view(): OnDemandView {
    const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
    return {
      mode: 'on-demand',
      installed: this.rules.length > 0,
      rules: [...this.rules],
      lingering: [...this.lingering],
      redirect: this.report.redirect,
      partition: this.report.partition,
      dns: this.report.dns === true,
      loss: this.report.loss ?? [],
      notes: this.report.notes,
      leaseUntil: this.rules.length > 0 ? iso(this.leaseEnd) : null,
      changedAt: iso(this.changedAt),
      lastError: this.lastError ? { at: new Date(this.lastError.at).toISOString(), message: this.lastError.message } : null,
    };
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    return this.queue.run(job);
  }

  /** Renewal (or a retry after a failure), and the nat hooks' deferred removal. */
  private tick(): void {
    if (this.installedKey === undefined || this.rules.length > 0) void this.enqueue(() => this.sync(true));
    else if (this.natPrunePending) void this.enqueue(() => this.prune());
  }

  private async sync(renew: boolean): Promise<void> {
    if (this.stopped) return;
    const now = this.clock();
    const policy = this.sidecar.policy;
    const report = interceptionDemand(policy, this.sidecar.engine.faultsEnabled(now), this.options.capture, now);
    this.report = report;
    // The next moment the demand changes by itself: the policy's expiry, or a rule's.
    const expiries = [policy.expiresAt, ...policy.rules.map((r) => r.expiresAt)].filter((at): at is number => at !== undefined && at > now);
    this.scheduleExpiry(expiries.length > 0 ? Math.min(...expiries) : undefined, now);
    const key = keyOf(report);
    if (key === this.installedKey && !(renew && key !== EMPTY_KEY)) return;
    await this.install(report, key, true);
  }

  private async install(report: DemandReport, key: string, pruneAfterRemoval: boolean): Promise<void> {
    const before = this.installedKey;
    const action = key === EMPTY_KEY ? 'remove' : before === EMPTY_KEY || before === undefined ? 'install' : 'update';
    const metrics = this.sidecar.metrics;
    try {
      const installed = await this.installer.apply({ redirect: report.redirect, partition: report.partition, dns: report.dns === true, loss: report.loss ?? [] });
      this.installedKey = key;
      this.record(installed);
      const { rules } = installed;
      this.lastError = undefined;
      if (action !== 'remove') this.natPrunePending = false;
      if (key !== before) {
        this.changedAt = this.clock();
        metrics.interceptionChanges.inc({ action });
        this.options.log.info({ action, rules: rules.length, redirect: report.redirect.length, partition: report.partition.length, notes: report.notes }, `interception rules: ${action}`);
      }
      if (action === 'remove' && pruneAfterRemoval) await this.prune();
    } catch (err) {
      this.installedKey = undefined;
      this.lastError = { at: this.clock(), message: (err as Error).message };
      metrics.interceptionChanges.inc({ action: 'error' });
      this.options.log.error({ action, cause: (err as Error).message }, 'interception rules could not be changed; retrying at the next renewal');
    }
  }

  private record(installed: { rules: string[]; lingering: string[]; leaseEnd: number }): void {
    this.rules = installed.rules;
    this.lingering = installed.lingering;
    this.leaseEnd = installed.leaseEnd;
    this.sidecar.metrics.interceptionRules.set(installed.rules.length);
  }

  /** Deletes what no longer acts: the lingering redirect chains and nat hooks once no redirected connection is open. */
  private async prune(): Promise<void> {
    const redirected = [...this.sidecar.connections].some((c) => c.meta.listener === undefined);
    try {
      this.record(await this.installer.prune(!redirected));
      this.natPrunePending = redirected;
    } catch (err) {
      this.options.log.warn({ cause: (err as Error).message }, 'empty built-in chains not removed');
    }
  }

  private scheduleExpiry(expiresAt: number | undefined, now: number): void {
    clearTimeout(this.expiryTimer);
    if (expiresAt === undefined || expiresAt <= now || this.stopped) return;
    this.expiryTimer = setTimeout(() => void this.update(), Math.min(expiresAt - now + 1, MAX_TIMER_MS));
    this.expiryTimer.unref();
  }
}
