import { TargetError } from '../errors.js';
import { DeploymentScale, killPods, type KubernetesRecord } from './kubernetes-steps.js';
import type { Action } from './plan.js';
import type { RollbackRecord } from './report.js';
import type { Target } from './targets/index.js';

type KubernetesAction = Extract<Action, { kind: 'podKill' | 'scale' }>;

/** What the runner lends the steps: its clock, its pause (cut short by a halt), and whether a signal or an error stopped the run. */
export interface StepContext {
  now(): number;
  pause(ms: number): Promise<void>;
  urgent(): boolean;
  event(type: 'apply' | 'remove' | 'rollback', message: string, details?: Record<string, unknown>): void;
}

/**
 * The runner's podKill and scale steps: each recorded (with its MTTR), and every Deployment a
 * scale step changed scaled back in the rollback when the step could not do it itself (an
 * abort, an error, SIGINT).
 */
export class KubernetesActions {
  readonly records: KubernetesRecord[] = [];
  /** Deployments scaled and not yet scaled back: their replicas before. */
  private readonly pending = new Map<DeploymentScale, { target: Target; replicas: number; readyTimeout: number }>();

  constructor(private readonly ctx: StepContext) {}

  async run(action: KubernetesAction, target: Target): Promise<void> {
    const cluster = target.cluster;
    if (!cluster) throw new TargetError(target.name, `${action.kind} needs a kubernetes target`);
    if (action.kind === 'podKill') {
      const record = await killPods(cluster, action.name, action.count, action.readyTimeout, () => this.ctx.urgent(), () => this.ctx.now());
      this.records.push(record);
      this.ctx.event('apply', `${action.name}: deleted ${record.pods?.join(', ')}; ${record.recovered ? `${record.readyBefore} pods ready again after ${record.mttrMs} ms` : (record.error as string)}`, { step: action.name, pods: record.pods, mttrMs: record.mttrMs });
      return;
    }
    const scale = new DeploymentScale(cluster, action.deployment);
    const from = await scale.replicas();
    const record: KubernetesRecord = { step: action.name, action: 'scale', target: target.name, t: this.ctx.now(), deployment: action.deployment, from, to: action.replicas, readyBefore: from, settleMs: null, mttrMs: null, recovered: false };
    this.records.push(record);
    this.pending.set(scale, { target, replicas: from, readyTimeout: action.readyTimeout });
    await scale.set(action.replicas);
    record.settleMs = await scale.wait(action.replicas, action.readyTimeout, () => this.ctx.urgent());
    this.ctx.event('apply', `${action.name}: deployment ${action.deployment} scaled ${from} → ${action.replicas}${record.settleMs === null ? '' : `, ready after ${record.settleMs} ms`}`, { step: action.name, deployment: action.deployment, from, to: action.replicas });
    await this.ctx.pause(action.holdMs);
    if (this.ctx.urgent()) return; // the rollback scales it back
    await this.restore(scale, record);
  }

  /** Scales back what a step left scaled; each a rollback entry. */
  async rollback(rollback: RollbackRecord): Promise<void> {
    for (const [scale, { target }] of this.pending) {
      const record = this.records.find((r) => r.action === 'scale' && r.deployment === scale.deployment && !r.recovered);
      let error: string | undefined;
      try {
        await this.restore(scale, record);
        if (record && !record.recovered) error = `${scale.deployment}: ${record.error}`;
      } catch (err) {
        error = (err as Error).message;
      }
      rollback.targets.push({ target: target.name, removed: [], restored: `deployment/${scale.deployment} to ${record?.from ?? '?'} replicas`, ...(error ? { error } : {}) });
      if (error) rollback.completed = false;
    }
  }

  /** Whether anything waits to be scaled back. */
  get dirty(): boolean {
    return this.pending.size > 0;
  }

  private async restore(scale: DeploymentScale, record: KubernetesRecord | undefined): Promise<void> {
    const entry = this.pending.get(scale);
    if (!entry) return;
    const started = performance.now();
    await scale.set(entry.replicas);
    this.pending.delete(scale);
    // Even when interrupted, the rollback waits (bounded) for the pods: it must say whether they are back.
    const back = await scale.wait(entry.replicas, entry.readyTimeout, () => false);
    if (record) {
      record.recovered = back !== null;
      record.mttrMs = back === null ? null : Math.round(performance.now() - started);
      if (back === null) record.error = `${entry.replicas} replicas not ready after ${entry.readyTimeout} ms`;
    }
    this.ctx.event('remove', `deployment ${scale.deployment} scaled back to ${entry.replicas}${back === null ? ', not ready in time' : `, ready after ${back} ms`}`, { deployment: scale.deployment, replicas: entry.replicas, mttrMs: record?.mttrMs ?? null });
  }
}
