import type { Command } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../../errors.js';
import { dataFormatOption, printData, type DataFormat } from '../output.js';
import { scenarioRegistry, scenarios, type Scenario } from '../../scenarios/index.js';

const LAYERS: Record<Scenario['layer'], string> = {
  connection: 'connection faults: any TCP traffic the rule matches',
  http: 'per-request faults: an L7 rule (match.protocol: http is added unless the match has an L7 part)',
};

const HOW = `Use one in a rule: {name: r, match: {...}, scenario: NAME}. Entries in the rule's faults: merge
over the scenario's fault of the same type (the fields they give win; probability: 0 leaves that
fault out); entries of other types are added. Each fault is drawn on its own; when several would
answer one request, the first listed wins.`;

/** One scenario as `faultline scenarios` prints it: what it is and exactly what it expands to. */
export function describeScenario(scenario: Scenario): string {
  const faults = scenario.faults.map((f) => `    - ${stringify(f, { collectionStyle: 'flow' }).trim()}`);
  // Kernel replacements: what an on-demand sidecar puts instead, for captured traffic.
  const kernel = Object.entries(scenario.kernel ?? {}).map(([type, f]) => `    - ${type} → ${stringify(f, { collectionStyle: 'flow' }).trim()}`);
  const replaced = kernel.length ? ['  with on-demand interception, for rules without a listener:', ...kernel] : [];
  return [`${scenario.name}`, `  ${scenario.summary}`, `  ${LAYERS[scenario.layer]}`, '  faults:', ...faults, ...replaced].join('\n');
}

/** `faultline scenarios [NAME]`: the named scenarios and what each expands to. */
export function register(program: Command): void {
  program
    .command('scenarios')
    .description('list the named scenarios a rule can use (scenario: NAME) and what each expands to')
    .argument('[name]', 'only this scenario')
    .addOption(dataFormatOption())
    .action((name: string | undefined, flags: { output: DataFormat }) => {
      const list = name === undefined ? scenarios : [scenarioRegistry.get(name)];
      if (list[0] === undefined) throw new UsageError(`unknown scenario "${name}" (known: ${[...scenarioRegistry.keys()].join(', ')})`);
      printData(flags.output, list, () => `${list.map((s) => describeScenario(s as Scenario)).join('\n\n')}\n\n${HOW}\n`);
    });
}
