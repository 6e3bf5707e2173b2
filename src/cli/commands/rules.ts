import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { expectStatus } from '../../fleet/endpoint.js';
import { problemLines, table, type FleetReport } from '../../fleet/report.js';
import { loadRulesFile } from '../../policy/rules.js';
import { commandAction } from '../action.js';
import { fleetOptions, runFleet, type FleetCommandFlags } from '../fleet.js';

type Rule = { name?: unknown; match?: unknown; faults?: { type?: unknown }[]; expiresAt?: unknown };

function renderList(report: FleetReport): string {
  const rows = [['POD', 'RULE', 'MATCH', 'FAULTS', 'EXPIRES']];
  for (const r of report.results) {
    if (r.result !== 'ok') continue;
    if ((r.data as { rules: Rule[] }).rules.length === 0) rows.push([r.target, '(no runtime rule)', '', '', '']);
    else for (const rule of (r.data as { rules: Rule[] }).rules) rows.push([r.target, String(rule.name), JSON.stringify(rule.match ?? {}), (rule.faults ?? []).map((f) => String(f.type)).join(','), rule.expiresAt ? String(rule.expiresAt) : '-']);
  }
  return table(rows) + problemLines(report);
}

function renderChange(report: FleetReport): string {
  const rows = [['POD', 'RESULT', 'DETAIL']];
  for (const r of report.results) rows.push([r.target, r.result, r.result === 'ok' ? String((r.data as { detail: string }).detail) : (r.reason ?? '')]);
  return table(rows);
}

/** `faultline rules list|add -f FILE|delete NAME`: the runtime rules of the selected sidecars. */
export function register(program: Command): void {
  const rules = program.command('rules').description('the runtime rules of the selected sidecars (admin API POST/DELETE /rules): list, add, delete');

  const list = rules.command('list').description('each pod\'s runtime rules').argument('[pods...]', 'pod names (instead of -l)');
  fleetOptions(list).action(
    commandAction(async (pods: string[], flags: FleetCommandFlags) =>
      runFleet(flags, {
        command: 'rules list',
        verb: 'view',
        pods,
        call: async (endpoint, target) => expectStatus(await endpoint.call(target, 'GET', '/rules'), [200], 'GET /rules'),
        render: renderList,
      }),
    ),
  );

  const add = rules
    .command('add')
    .description('add (or replace, by name) runtime rules in every selected sidecar; the file is validated first')
    .requiredOption('-f, --filename <file>', 'a rule, a YAML list of rules, or a FaultPolicy (its spec.rules)')
    .argument('[pods...]', 'pod names (instead of -l)');
  fleetOptions(add).action(
    commandAction(async (pods: string[], flags: FleetCommandFlags & { filename: string }) => {
      let toAdd: Record<string, unknown>[] = [];
      return runFleet(flags, {
        command: 'rules add',
        verb: 'rules',
        pods,
        async prepare() {
          let text: string;
          try {
            text = await readFile(flags.filename, 'utf8');
          } catch (err) {
            throw new UsageError(`-f ${flags.filename}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
          toAdd = loadRulesFile(text, flags.filename);
        },
        async call(endpoint, target) {
          const done: string[] = [];
          for (const rule of toAdd) {
            try {
              const answer = await endpoint.call(target, 'POST', '/rules', rule);
              expectStatus(answer, [200, 201], `POST /rules (${String(rule.name)})`);
              done.push(`${String(rule.name)} ${answer.status === 201 ? 'added' : 'replaced'}`);
            } catch (err) {
              throw Object.assign(err as Error, { message: `${done.length ? `${done.join(', ')}; then ` : ''}${(err as Error).message}` });
            }
          }
          return { detail: done.join(', ') };
        },
        render: renderChange,
      });
    }),
  );

  const remove = rules.command('delete').description('delete a runtime rule from every selected sidecar').argument('<name>', 'the rule').argument('[pods...]', 'pod names (instead of -l)');
  fleetOptions(remove).action(
    commandAction(async (name: string, pods: string[], flags: FleetCommandFlags) =>
      runFleet(flags, {
        command: `rules delete ${name}`,
        verb: 'rules',
        pods,
        async call(endpoint, target) {
          const answer = await endpoint.call(target, 'DELETE', `/rules/${encodeURIComponent(name)}`);
          expectStatus(answer, [204, 404], `DELETE /rules/${name}`);
          return { deleted: answer.status === 204, detail: answer.status === 204 ? `${name} deleted` : `no runtime rule ${name} here` };
        },
        render: renderChange,
        failedAnyway: (report) => (report.results.some((r) => r.result === 'ok' && (r.data as { deleted: boolean }).deleted) || report.summary.ok === 0 ? undefined : `no pod has a runtime rule named "${name}"`),
      }),
    ),
  );
}
