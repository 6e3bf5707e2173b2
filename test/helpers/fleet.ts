import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { request } from 'undici';
import { ADMIN_VERBS, type AdminVerb } from '../../src/admin/verbs.js';
import { credentialSecret } from '../../src/kubernetes/credentials.js';
import { userRole } from '../../src/kubernetes/rbac.js';
import { kubeApi, type AllowRule, type FakePod, type KubeApi } from './kube-api.js';
import { startDaemon, type Daemon } from './process.js';
import { policyText, tempDir } from './sidecar.js';

/** One real `faultline sidecar` process standing for a pod's sidecar. */
export interface FleetSidecar {
  pod: string;
  admin: number;
  daemon: Daemon;
}

export interface FleetHarness {
  api: KubeApi;
  namespace: string;
  sidecars: FleetSidecar[];
  tokens: Record<AdminVerb, string>;
  /** The sidecar's own kill switch, asked directly (not through the fleet CLI). */
  killSwitch(sidecar: FleetSidecar): Promise<boolean>;
  /** A kubeconfig for a user bound (RoleBinding in the namespace) to the shipped ClusterRole of `verb`. */
  userWith(verb: AdminVerb): string;
}

/** The rules of a shipped ClusterRole, as granted by a RoleBinding in `namespace`. */
export function boundRules(verb: AdminVerb, namespace: string): AllowRule[] {
  const role = userRole(verb) as unknown as { rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[] };
  return role.rules.map((r) => ({ verbs: r.verbs, resources: r.resources, namespaces: [namespace], ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}) }));
}

/**
 * A namespace of `count` pods labelled app=shop behind the fake API server, each a real
 * `faultline sidecar` process (started in parallel) with the namespace's credentials in an
 * --admin-credentials directory, as the kubelet would mount the Secrets the fake API holds.
 */
export async function startFleet(t: Test, count: number, options: { namespace?: string; pods?: FakePod[] } = {}): Promise<FleetHarness> {
  const namespace = options.namespace ?? 'shop';
  const api = await kubeApi(t);
  api.addNamespace(namespace);
  const dir = tempDir(t);
  const credentials = join(dir, 'admin');
  mkdirSync(credentials);
  const tokens = {} as Record<AdminVerb, string>;
  for (const verb of ADMIN_VERBS) {
    const secret = credentialSecret(namespace, verb) as { data: { token: string } };
    tokens[verb] = Buffer.from(secret.data.token, 'base64').toString();
    api.store.create('v1/secrets', namespace, secret as never);
    writeFileSync(join(credentials, verb), tokens[verb]);
  }
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ name: 'shop-faults', listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:9"}'], rules: '    - {name: slow, match: {listener: up}, faults: [{type: latency, latency: 10ms}]}' }));
  const sidecars = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const pod = `shop-${String(i).padStart(2, '0')}`;
      const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-credentials', credentials], { FAULTLINE_LOG_LEVEL: 'info' });
      // Twenty Node processes starting at once on two cores: give them time.
      const line = await daemon.waitForLine((l) => l.msg === 'listening' && l.component === 'admin', 90_000);
      const admin = Number(String(line.address).split(':').pop());
      api.addPod({ namespace, name: pod, labels: { app: 'shop' }, ports: { 15000: admin } });
      return { pod, admin, daemon };
    }),
  );
  for (const pod of options.pods ?? []) api.addPod(pod);
  return {
    api,
    namespace,
    sidecars,
    tokens,
    async killSwitch(sidecar) {
      const res = await request(`http://127.0.0.1:${sidecar.admin}/killswitch`);
      return ((await res.body.json()) as { killSwitch: boolean }).killSwitch;
    },
    userWith(verb) {
      return api.addUser(`${verb}-user-token`, `${verb}-user`, boundRules(verb, namespace), namespace);
    },
  };
}
