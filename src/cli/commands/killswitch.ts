import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { expectStatus } from '../../fleet/endpoint.js';
import { table, type FleetReport } from '../../fleet/report.js';
import { commandAction } from '../action.js';
import { fleetOptions, runFleet, type FleetCommandFlags } from '../fleet.js';

function render(report: FleetReport): string {
  const rows = [['POD', 'RESULT', 'DETAIL']];
  for (const r of report.results) rows.push([r.target, r.result === 'ok' ? `kill switch ${(r.data as { killSwitch: boolean }).killSwitch ? 'on' : 'off'}` : r.result, r.reason ?? '']);
  return table(rows);
}

/**
 * `faultline killswitch on|off`: every selected sidecar at once, in parallel; a pod's kill switch
 * flips whole or not at all, and holds across policy reloads (not across a sidecar restart: set
 * `enabled: false` in the policy for that).
 */
export function register(program: Command): void {
  const command = program
    .command('killswitch')
    .description('turn every fault off (on) or back on (off) in the selected sidecars, with a result per pod')
    .argument('<state>', 'on (no fault applies) or off (the policy applies again)')
    .argument('[pods...]', 'pod names (instead of -l)');
  fleetOptions(command).action(
    commandAction(async (state: string, pods: string[], flags: FleetCommandFlags) => {
      if (state !== 'on' && state !== 'off') throw new UsageError(`killswitch: "${state}" must be on or off`);
      return runFleet(flags, {
        command: `killswitch ${state}`,
        verb: 'killswitch',
        pods,
        async call(endpoint, target) {
          return expectStatus(await endpoint.call(target, state === 'on' ? 'POST' : 'DELETE', '/killswitch'), [200], `${state === 'on' ? 'POST' : 'DELETE'} /killswitch`);
        },
        render,
      });
    }),
  );
}
