import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { Kube } from '../../kubernetes/client.js';
import { createCredentials, credentialSecrets, rotateCredentials } from '../../kubernetes/credentials.js';
import { toYaml } from '../../kubernetes/manifests.js';
import { commandAction, usageExits } from '../action.js';
import { output } from '../output.js';

interface CredentialsFlags {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  print?: boolean;
}

/**
 * `faultline credentials create|rotate [-n NS] [--print]`: the namespace's three admin
 * credential Secrets, for clusters without the webhook (`faultline inject`), or to rotate them.
 * With --print, the Secrets as YAML (fresh tokens) and nothing sent to the cluster.
 */
export function register(program: Command): void {
  const command = program
    .command('credentials')
    .description('create or rotate a namespace\'s admin credential Secrets (faultline-admin-view, -killswitch, -rules)')
    .argument('<action>', 'create (missing ones; existing ones are kept) or rotate (every token replaced)')
    .option('-n, --namespace <namespace>', 'the namespace (default: the kubeconfig context\'s, else default)')
    .option('--kubeconfig <file>', 'kubeconfig file')
    .option('--context <name>', 'kubeconfig context')
    .option('--print', 'print the Secrets as YAML instead (for kubectl apply -f -)');
  usageExits(command).action(
    commandAction(async (action: string, flags: CredentialsFlags) => {
      if (action !== 'create' && action !== 'rotate') throw new UsageError(`credentials: "${action}" must be create or rotate`);
      if (flags.print) {
        if (flags.namespace === undefined) throw new UsageError('--print needs -n NAMESPACE (nothing is asked of the cluster)');
        output.stdout(toYaml(credentialSecrets(flags.namespace), `# faultline admin credentials for namespace ${flags.namespace}: kubectl apply -f -`));
        return 0;
      }
      const kube = await Kube.load(flags);
      const outcomes = action === 'create' ? await createCredentials(kube, kube.namespace) : await rotateCredentials(kube, kube.namespace);
      for (const o of outcomes) output.stdout(`secret/${o.name} ${o.result} in ${kube.namespace}\n`);
      if (action === 'rotate') output.stdout('sidecars take the new tokens when the kubelet updates their volume (about a minute)\n');
      return 0;
    }),
  );
}
