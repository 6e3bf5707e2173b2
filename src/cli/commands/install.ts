import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import { INTERCEPTION_MODES, isDns1123Subdomain, type Interception } from '../../kubernetes/annotations.js';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { installObjects, NAMESPACE, webhookDnsNames } from '../../kubernetes/install.js';
import { toYaml } from '../../kubernetes/manifests.js';
import { commandAction, usageExits } from '../action.js';
import { output } from '../output.js';

interface InstallFlags {
  image: string;
  namespace: string;
  interception: string;
  certificates: string;
  output: 'yaml' | 'json';
}

/**
 * `faultline install`: prints every object the cluster needs, as multi-document YAML for
 * `kubectl apply -f -` (like `linkerd install`). Removal: the same output to `kubectl delete -f -`.
 */
export function register(program: Command): void {
  const command = program
    .command('install')
    .description('print the control plane (webhook, its certificate, RBAC, namespace) as YAML for `kubectl apply -f -`')
    .option('--image <image>', 'the faultline image (webhook, sidecars, init containers)', DEFAULT_IMAGE)
    .option('--namespace <namespace>', 'the control plane\'s namespace', NAMESPACE)
    .option('--interception <mode>', 'default interception of injected pods that do not say: always, on-demand or none', 'always')
    .option('--certificates <source>', 'the webhook certificate: cert-manager (installed first) or generate (made now, valid a year)', 'cert-manager')
    .addOption(new Option('-o, --output <format>', 'yaml (documents for kubectl apply -f -) or json (a List)').choices(['yaml', 'json']).default('yaml'));
  usageExits(command).action(
      commandAction(async (flags: InstallFlags) => {
        if (!(INTERCEPTION_MODES as readonly string[]).includes(flags.interception)) throw new UsageError(`--interception: "${flags.interception}" must be always, on-demand or none`);
        if (flags.certificates !== 'cert-manager' && flags.certificates !== 'generate') throw new UsageError(`--certificates: "${flags.certificates}" must be cert-manager or generate`);
        if (!isDns1123Subdomain(flags.namespace) || flags.namespace.includes('.') || flags.namespace.length > 63) throw new UsageError(`--namespace: "${flags.namespace}" is not a namespace name (lower-case letters, digits and '-')`);
        if (!/^[^\s"'`$\\]+$/.test(flags.image)) throw new UsageError(`--image: "${flags.image}" is not an image reference`);
        let certificates;
        if (flags.certificates === 'generate') {
          const { generateWebhookCertificates } = await import('../../kubernetes/certificates.js');
          certificates = await generateWebhookCertificates(webhookDnsNames(flags.namespace));
        }
        const objects = installObjects({ image: flags.image, namespace: flags.namespace, interception: flags.interception as Interception, ...(certificates ? { certificates } : {}) });
        if (flags.output === 'json') output.stdout(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
        else output.stdout(toYaml(objects));
        return 0;
      }),
    );
}
