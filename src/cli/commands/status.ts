import type { Command } from 'commander';
import { expectStatus } from '../../fleet/endpoint.js';
import { TargetFailure } from '../../fleet/fanout.js';
import { problemLines, sidecarStatusSchema, table, type FleetReport, type SidecarStatus } from '../../fleet/report.js';
import { commandAction } from '../action.js';
import { fleetOptions, runFleet, type FleetCommandFlags } from '../fleet.js';

/** One table row per pod: what it runs, where from, its interception, kill switch, faults, connections. */
function render(report: FleetReport): string {
  const rows = [['POD', 'POLICY', 'HASH', 'SOURCE', 'INTERCEPTION', 'KILLSWITCH', 'FAULTS', 'CONNECTIONS', 'LAST ERROR']];
  for (const r of report.results) {
    if (r.result !== 'ok') continue;
    const s = r.data as SidecarStatus;
    const source = s.policy.fileMissing ? 'file missing' : s.policy.source;
    const active = s.faults.filter((f) => f.connections > 0).length;
    rows.push([
      r.target,
      s.policy.name,
      s.policy.hash,
      source,
      `${s.interception.mode}/${s.interception.state}`,
      s.killSwitch ? 'ON' : 'off',
      `${s.faults.length} (${active} active)`,
      `${s.connections.live} (${s.connections.faulted} faulted)`,
      s.policy.lastError ? s.policy.lastError.message.split('\n')[0] as string : '-',
    ]);
  }
  return table(rows) + problemLines(report);
}

/** `faultline status`: per pod (or for one sidecar), the policy in force and the state of its faults. */
export function register(program: Command): void {
  const command = program
    .command('status')
    .description('per pod: policy name and hash, its source, interception mode and state, kill switch, active faults, live connections, last reload error')
    .argument('[pods...]', 'pod names (instead of -l)');
  fleetOptions(command).action(
    commandAction(async (pods: string[], flags: FleetCommandFlags) =>
      runFleet(flags, {
        command: 'status',
        verb: 'view',
        pods,
        async call(endpoint, target) {
          const body = expectStatus(await endpoint.call(target, 'GET', '/status'), [200], 'GET /status');
          const parsed = sidecarStatusSchema.safeParse(body);
          if (!parsed.success) throw new TargetFailure('GET /status answered something that is not a faultline status');
          return parsed.data;
        },
        render,
      }),
    ),
  );
}
