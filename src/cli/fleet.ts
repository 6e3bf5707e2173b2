import { Option, type Command } from 'commander';
import type { AdminVerb } from '../admin/verbs.js';
import { FleetError, UsageError } from '../errors.js';
import type { AdminEndpoint } from '../fleet/endpoint.js';
import { fanOut } from '../fleet/fanout.js';
import { buildReport, summaryLine, type FleetReport } from '../fleet/report.js';
import { checkFleetFlags, openFleet, type FleetFlags } from '../fleet/session.js';
import { durationFlag } from '../policy/units.js';
import { usageExits } from './action.js';
import { output, printData, type DataFormat } from './output.js';

/** The flags of every fleet command, as commander hands them over. */
export interface FleetCommandFlags {
  namespace?: string;
  selector?: string;
  kubeconfig?: string;
  context?: string;
  admin?: string;
  tokenFile?: string;
  output: string;
  timeout: string;
  concurrency: string;
}

/** What one fleet command does to each target, and how its table looks. */
export interface FleetSpec<T> {
  /** "killswitch on", for the report. */
  command: string;
  /** The credential level the calls need. */
  verb: AdminVerb;
  /** Named pods (instead of a selector). */
  pods?: string[];
  /** Checks that need no cluster (a rules file); they fail before anything is contacted. */
  prepare?: () => Promise<void> | void;
  call(endpoint: AdminEndpoint, target: string): Promise<unknown>;
  /** The table output (`-o table`), without the summary line. */
  render(report: FleetReport): string;
  /** Exit 1 when this holds even though every call went through (e.g. nothing to delete anywhere). */
  failedAnyway?(report: FleetReport): string | undefined;
}

const OUTPUTS = ['table', 'json', 'yaml'];

/**
 * Adds the targeting and output flags of the fleet commands, and makes a usage error (bad flag,
 * missing argument) exit 2 as every faultline command should.
 */
export function fleetOptions(command: Command, options: { selector?: boolean } = {}): Command {
  command
    .option('-n, --namespace <namespace>', 'the namespace (default: the kubeconfig context\'s, else default)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('--admin <url>', 'one sidecar\'s admin API instead of the cluster (a local sidecar, the demo)')
    .option('--token-file <file>', 'with --admin: the admin credential (default: $FAULTLINE_ADMIN_TOKEN)')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').default('table'))
    .option('--timeout <duration>', 'per-pod call timeout', '5s')
    .option('--concurrency <n>', 'pods contacted at once', '32');
  if (options.selector !== false) command.option('-l, --selector <selector>', 'label selector of the pods, as kubectl -l');
  return usageExits(command);
}

/** The flags checked and converted; a bad one is a UsageError (exit 2) before anything else. */
export function parseFleetFlags(flags: FleetCommandFlags, pods: string[] = []): FleetFlags & { output: string; concurrency: number } {
  if (!OUTPUTS.includes(flags.output)) throw new UsageError(`-o: "${flags.output}" must be table, json or yaml`);
  const timeoutMs = durationFlag(flags.timeout, '--timeout', { minMs: 1, maxMs: 600_000 });
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new UsageError(`--concurrency: "${flags.concurrency}" must be a whole number from 1 to 256`);
  const parsed = { namespace: flags.namespace, selector: flags.selector, kubeconfig: flags.kubeconfig, context: flags.context, admin: flags.admin, tokenFile: flags.tokenFile, timeoutMs, output: flags.output, concurrency };
  checkFleetFlags(parsed, pods);
  return parsed;
}

/** Prints a report in the chosen format. */
export function printReport(report: FleetReport, format: string, render: (report: FleetReport) => string): void {
  printData(format === 'table' ? 'text' : (format as DataFormat), report, () => `${render(report)}${summaryLine(report)}\n`);
}

/**
 * A fleet command: resolve the targets (the namespace's pods through the API server, or one
 * URL), call each in parallel (at most --concurrency at once, each bounded by --timeout), print
 * one result per pod, and exit 0 only when every pod that has a sidecar did it. Ctrl-C stops
 * starting new calls, lets those in flight finish, and prints what was done and which pods were
 * not attempted (exit 1): each call is all-or-nothing on its pod, so `faultline status` shows
 * exactly where it took effect.
 */
export async function runFleet(raw: FleetCommandFlags, spec: FleetSpec<unknown>): Promise<number> {
  const flags = parseFleetFlags(raw, spec.pods);
  await spec.prepare?.();
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) return;
    controller.abort();
    output.stderr(`faultline: interrupted: no new call starts; waiting for those in flight (at most ${raw.timeout})\n`);
  };
  process.on('SIGINT', onSignal);
  try {
    const fleet = await openFleet(flags, spec.verb, spec.pods);
    if (fleet.targets.length === 0 && fleet.reported.length === 0) {
      throw new FleetError(`no pod in namespace ${fleet.namespace}${fleet.selector ? ` matches -l ${fleet.selector}` : ''}`);
    }
    const results = await fanOut(fleet.targets, (target) => spec.call(fleet.endpoint, target), { concurrency: flags.concurrency, signal: controller.signal });
    const report = buildReport(spec.command, fleet, [...fleet.reported, ...results], controller.signal.aborted);
    printReport(report, flags.output, spec.render);
    if (report.interrupted && report.summary.notAttempted > 0) {
      output.stderr(`faultline: interrupted; not attempted: ${report.results.filter((r) => r.result === 'not-attempted').map((r) => r.target).join(', ')}\n`);
    }
    if (fleet.targets.length === 0 && report.summary.failed === 0) {
      output.stderr(`faultline: no pod with a faultline sidecar in namespace ${fleet.namespace}${fleet.selector ? ` matches -l ${fleet.selector}` : ''}\n`);
      return 1;
    }
    const anyway = spec.failedAnyway?.(report);
    if (anyway) output.stderr(`faultline: ${anyway}\n`);
    return report.summary.failed > 0 || report.summary.notAttempted > 0 || report.interrupted || anyway ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
