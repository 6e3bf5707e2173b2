import type { Command } from 'commander';

/** Environment variables every command reads. */
const COMMON_ENV: [string, string][] = [
  ['FAULTLINE_LOG_LEVEL', 'log level when --log-level is not given (fatal, error, warn, info, debug, trace, silent; default info)'],
  ['FAULTLINE_LOG_FORMAT', 'log format when --log-format is not given (text or json; default text on a terminal, json otherwise)'],
  ['FAULTLINE_DEBUG', '1: print stack traces of unexpected errors, as --debug'],
];
const KUBE_ENV: [string, string][] = [['KUBECONFIG', 'kubeconfig files (default ~/.kube/config; in a pod, its service account)']];
const FLEET_ENV: [string, string][] = [...KUBE_ENV, ['FAULTLINE_ADMIN_TOKEN', 'with --admin: the admin credential, when --token-file is not given']];

interface CommandHelp {
  examples: string[];
  env?: [string, string][];
}

/** Examples and environment variables of each command, by its path ("rules add"). */
export const COMMAND_HELP: Record<string, CommandHelp> = {
  '': { examples: ['npx faultline demo', 'faultline validate policy.yaml', 'faultline sidecar --policy policy.yaml', 'faultline status -n shop', 'source <(faultline completion bash)'] },
  sidecar: {
    examples: [
      'faultline sidecar --policy policy.yaml',
      'faultline sidecar --policy policy.yaml --admin 127.0.0.1:15000 --admin-token-file token --metrics 127.0.0.1:15020',
      'faultline sidecar --policy /etc/faultline/policy.yaml --allow-missing-policy --admin-credentials /etc/faultline-admin',
    ],
    env: KUBE_ENV,
  },
  validate: { examples: ['faultline validate policy.yaml', 'faultline validate examples/policies/*.yaml -o json'] },
  demo: { examples: ['faultline demo', 'faultline demo --base-port 0 --once'] },
  iptables: { examples: ['faultline iptables --dry-run', 'faultline iptables --inbound-ports 8080 --exclude-outbound-cidrs 10.0.0.1/32', 'faultline iptables --cleanup'] },
  inject: { examples: ['faultline inject -f deployment.yaml | kubectl apply -f -', 'kubectl get deployment web -o yaml | faultline inject | kubectl apply -f -'] },
  webhook: { examples: ['faultline webhook --tls-cert /etc/tls/tls.crt --tls-key /etc/tls/tls.key --image REGISTRY/faultline:0.1.0'], env: KUBE_ENV },
  manifests: { examples: ['faultline manifests --out manifests'] },
  scenarios: { examples: ['faultline scenarios', 'faultline scenarios slow_backend -o yaml'] },
  run: {
    examples: [
      'faultline run examples/experiment.yaml --output report.json',
      'faultline run --random --target http://127.0.0.1:15000 --probe-url http://127.0.0.1:8080/health --interval 10s --duration 5m',
    ],
    env: KUBE_ENV,
  },
  install: { examples: ['faultline install --image REGISTRY/faultline:0.1.0 | kubectl apply -f -', 'faultline install --certificates generate -o json'] },
  status: { examples: ['faultline status -n shop', 'faultline status -n shop -l app=checkout -o json', 'faultline status --admin http://127.0.0.1:15000'], env: FLEET_ENV },
  killswitch: { examples: ['faultline killswitch on -n shop -l app=checkout', 'faultline killswitch off -n shop checkout-7d9f-abcde'], env: FLEET_ENV },
  rules: { examples: ['faultline rules list -n shop', 'faultline rules add -f rule.yaml -n shop -l app=checkout', 'faultline rules delete slow-db -n shop'], env: FLEET_ENV },
  'rules list': { examples: ['faultline rules list -n shop -o yaml'], env: FLEET_ENV },
  'rules add': { examples: ['faultline rules add -f rule.yaml -n shop -l app=checkout'], env: FLEET_ENV },
  'rules delete': { examples: ['faultline rules delete slow-db -n shop'], env: FLEET_ENV },
  connections: { examples: ['faultline connections checkout-7d9f-abcde -n shop --faulted', 'faultline connections --admin http://127.0.0.1:15000 -o json'], env: FLEET_ENV },
  credentials: { examples: ['faultline credentials create -n shop', 'faultline credentials rotate -n shop', 'faultline credentials create -n shop --print | kubectl apply -f -'], env: KUBE_ENV },
  controller: { examples: ['faultline controller --health 0.0.0.0:15020'], env: KUBE_ENV },
  version: { examples: ['faultline version', 'faultline version -o json'] },
  completion: { examples: ['source <(faultline completion bash)', 'source <(faultline completion zsh)', 'faultline completion bash > /etc/bash_completion.d/faultline'] },
};

/** "rules add" for the `add` sub-command of `rules`; "" for the program. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function section(title: string, rows: string[]): string {
  return `\n${title}:\n${rows.map((row) => `  ${row}`).join('\n')}\n`;
}

/** The Examples and Environment sections of a command's --help. */
export function helpAfter(command: Command): string {
  const help = COMMAND_HELP[commandPath(command)];
  const env = [...(help?.env ?? []), ...COMMON_ENV];
  const width = Math.max(...env.map(([name]) => name.length));
  return (help ? section('Examples', help.examples.map((e) => `$ ${e}`)) : '') + section('Environment', env.map(([name, what]) => `${name.padEnd(width)}  ${what}`));
}
