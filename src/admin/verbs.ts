/**
 * The admin API's verbs, from least to most: `view` (every read), `killswitch` (reads and the
 * kill switch), `rules` (reads, the kill switch and runtime rules). A credential of one level
 * grants its own verb and every verb before it. In a cluster each level is one Secret per
 * namespace, `faultline-admin-<verb>`, whose key `token` the sidecar finds at
 * `<--admin-credentials DIR>/<verb>`. Kept free of any I/O: the Kubernetes builders and the fleet
 * CLI use these names too.
 */
export const ADMIN_VERBS = ['view', 'killswitch', 'rules'] as const;
export type AdminVerb = (typeof ADMIN_VERBS)[number];

/** The header the fleet CLI sends a credential in: the API server's pod proxy drops `Authorization`. */
export const TOKEN_HEADER = 'x-faultline-token';

/** Whether a credential of `level` may do what needs `verb`. */
export function grants(level: AdminVerb, verb: AdminVerb): boolean {
  return ADMIN_VERBS.indexOf(level) >= ADMIN_VERBS.indexOf(verb);
}

/** The Secret holding the credential of `verb` in each namespace. */
export function credentialSecretName(verb: AdminVerb): string {
  return `faultline-admin-${verb}`;
}

/** `level` and every level below it: the credential Secrets a user of that level may read. */
export function levelsUpTo(level: AdminVerb): AdminVerb[] {
  return ADMIN_VERBS.filter((verb) => grants(level, verb));
}
