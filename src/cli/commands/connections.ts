import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { expectStatus } from '../../fleet/endpoint.js';
import { table, type FleetReport } from '../../fleet/report.js';
import { commandAction } from '../action.js';
import { fleetOptions, runFleet, type FleetCommandFlags } from '../fleet.js';

interface ConnectionView {
  id: string;
  listener: string;
  direction: string;
  source: string;
  destination: string;
  protocol: string;
  ageMs: number;
  bytesUpstream: number;
  bytesDownstream: number;
  faults: { rule: string; fault: string; count: number; active: boolean }[];
}

function render(report: FleetReport): string {
  const result = report.results[0];
  if (!result || result.result !== 'ok') return `${result?.target ?? ''}: ${result?.result ?? ''} ${result?.reason ?? ''}\n`;
  const data = result.data as { total: number; returned: number; connections: ConnectionView[] };
  const rows = [['ID', 'LISTENER', 'DIRECTION', 'SOURCE', 'DESTINATION', 'PROTOCOL', 'AGE', 'UP', 'DOWN', 'FAULTS']];
  for (const c of data.connections) {
    const faults = c.faults.map((f) => `${f.rule}/${f.fault} x${f.count}${f.active ? '' : ' (over)'}`).join(', ');
    rows.push([c.id, c.listener, c.direction, c.source, c.destination, c.protocol, `${(c.ageMs / 1000).toFixed(1)}s`, String(c.bytesUpstream), String(c.bytesDownstream), faults || '-']);
  }
  return `${table(rows)}${data.returned} of ${data.total} live connections\n`;
}

/** `faultline connections POD [--faulted]`: one sidecar's live connections and the faults on each. */
export function register(program: Command): void {
  const command = program
    .command('connections')
    .description('one sidecar\'s live connections: peers, protocol, age, bytes each way, faults applied')
    .argument('[pod]', 'the pod (or give --admin URL)')
    .option('--faulted', 'only connections a fault acted on')
    .option('--limit <n>', 'at most this many (oldest first)', '100');
  fleetOptions(command, { selector: false }).action(
    commandAction(async (pod: string | undefined, flags: FleetCommandFlags & { faulted?: boolean; limit: string }) => {
      if ((pod === undefined) === (flags.admin === undefined)) throw new UsageError('connections: give one POD, or --admin URL');
      if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1 || Number(flags.limit) > 10_000) throw new UsageError(`--limit: "${flags.limit}" must be from 1 to 10000`);
      const query = new URLSearchParams({ limit: flags.limit, ...(flags.faulted ? { faulted: 'true' } : {}) });
      return runFleet(flags, {
        command: 'connections',
        verb: 'view',
        pods: pod === undefined ? [] : [pod],
        call: async (endpoint, target) => expectStatus(await endpoint.call(target, 'GET', `/connections?${query}`), [200], 'GET /connections'),
        render,
      });
    }),
  );
}
