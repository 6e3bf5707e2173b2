import type { CertificateSpec, FaultType } from '../faults/types.js';
import type { Path, Report } from './positions.js';

/**
 * Where TLS goes in a policy (load.ts calls this for every rule): handshake faults in rules that
 * match on the ClientHello (`sni` or `protocol: tls`); `tls: terminate` on rules that can see
 * TLS connections, and only where the sidecar has a CA to sign leaf certificates with.
 */
export interface TlsRuleOptions {
  /** false: the sidecar has no CA (--tls-ca-cert/--tls-ca-key); undefined: unknown (`faultline validate`). */
  tlsCa?: boolean | undefined;
}

type Loose = Record<string, unknown>;

const NEEDS_CA = 'start the sidecar with --tls-ca-cert and --tls-ca-key (in a pod: the annotation faultline.dev/tls-ca-secret) naming a CA the clients trust';

/** The certificates a handshake fault presents, found by running its hook against a recorder. */
export function presentedCertificates(type: FaultType<any>, options: object): CertificateSpec[] {
  const presented: CertificateSpec[] = [];
  type.handshake?.(options, { hold: () => {}, reject: () => {}, present: (spec) => void presented.push(spec) }, () => 0.5);
  return presented;
}

export function checkTlsRule(
  rule: { tls?: unknown; faults?: unknown },
  match: Loose,
  faults: { f: number; type: FaultType<any>; options: object | undefined }[],
  path: Path,
  at: Report,
  options: TlsRuleOptions,
): void {
  const hello = match.sni !== undefined || match.protocol === 'tls';
  if (match.protocol === 'tls' && (match.http !== undefined || match.grpc !== undefined)) {
    at([...path, 'match', 'protocol'], 'protocol: tls rules act on TLS connections, not requests: to match requests on HTTPS write tls: terminate with protocol http or grpc (and sni for the server names)');
  }
  if (rule.tls === 'terminate') {
    if (match.protocol === 'tcp') at([...path, 'match', 'protocol'], 'tls: terminate decrypts TLS connections: drop protocol: tcp');
    if (match.dns !== undefined) at([...path, 'tls'], 'DNS rules see no TLS connections: put tls: terminate in another rule');
    if (options.tlsCa === false) at([...path, 'tls'], `tls: terminate signs a leaf certificate per server name with the sidecar's CA: ${NEEDS_CA}`);
  }
  for (const { f, type, options: faultOptions } of faults) {
    if (!type.handshake) continue;
    const where = [...path, 'faults', f, 'type'];
    if (!hello) at(where, `${type.type} acts on the TLS handshake: the rule needs match.sni or match.protocol: tls`);
    else if (options.tlsCa === false && faultOptions && presentedCertificates(type, faultOptions).some((c) => c.issuer === 'ca')) {
      at(where, `${type.type} of this kind is signed by the CA the clients trust, so that their verification fails for that reason alone: ${NEEDS_CA}`);
    }
  }
}
