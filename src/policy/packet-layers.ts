import { faultRegistry, type FaultType } from '../faults/index.js';
import type { Path, Report } from './positions.js';

/**
 * Where DNS, datagram and kernel faults may go (load.ts calls this for every rule):
 * - DNS faults (`dns` hook) only in rules with `match.dns`, which take nothing else and match
 *   the DNS proxy (no listener) or a `protocol: dns` listener;
 * - rules of a `protocol: udp` listener take faults that act on datagrams (`datagram` hook), and
 *   faults that act on datagrams alone (duplicate, reorder) need such a listener;
 * - kernel faults (`kernel` hook: packet_loss) act on captured traffic, so take no listener, no
 *   L7, SNI or DNS match, and are refused where the sidecar cannot install kernel rules.
 */
export interface PacketLayerOptions {
  /** false: the sidecar cannot install kernel rules (not on-demand); undefined: unknown (`faultline validate`). */
  kernelFaults?: boolean | undefined;
}

type Loose = Record<string, unknown>;

const names = (pick: (f: FaultType<any>) => boolean) => [...faultRegistry.values()].filter(pick).map((f) => f.type).join(', ');

export function checkPacketLayers(
  rule: { faults?: unknown },
  match: Loose,
  listenerProtocol: string | undefined,
  path: Path,
  at: Report,
  options: PacketLayerOptions,
): void {
  const types = (Array.isArray(rule.faults) ? rule.faults : []).map((entry: unknown, f) => {
    const name = (entry as { type?: unknown } | null)?.type;
    return { f, type: typeof name === 'string' ? faultRegistry.get(name) : undefined };
  });
  const where = (f: number) => [...path, 'faults', f, 'type'];
  const l7 = (typeof match.protocol === 'string' && match.protocol !== 'tcp') || match.http !== undefined || match.grpc !== undefined || match.sni !== undefined;
  if (match.dns !== undefined) {
    if (l7) at([...path, 'match', 'dns'], 'a DNS rule matches DNS queries only: put protocol/http/grpc/sni matches in another rule');
    if (listenerProtocol !== undefined && listenerProtocol !== 'dns') at([...path, 'match', 'listener'], `listener "${String(match.listener)}" is a ${listenerProtocol} listener: DNS rules match the DNS proxy (no listener) or a protocol: dns listener`);
    for (const { f, type } of types) if (type && !type.dns) at(where(f), `${type.type} is not a DNS fault: rules with match.dns take ${names((t) => t.dns !== undefined)}`);
    return;
  }
  if (listenerProtocol === 'dns') at([...path, 'match', 'listener'], `listener "${String(match.listener)}" is a DNS listener: its rules need match.dns (e.g. {names: ["*"]})`);
  for (const { f, type } of types) {
    if (!type) continue;
    if (type.dns) {
      at(where(f), `${type.type} acts on DNS queries: the rule needs match.dns (e.g. {names: ["api.example.com"], types: [A]})`);
    } else if (listenerProtocol === 'udp' && !type.datagram) {
      at(where(f), `${type.type} does not act on datagrams: rules of a udp listener take ${names((t) => t.datagram !== undefined)}`);
    } else if (type.datagram && !type.stage && listenerProtocol !== 'udp') {
      at(where(f), `${type.type} acts on datagrams: the rule needs match.listener naming a protocol: udp listener`);
    } else if (type.kernel) {
      if (match.listener !== undefined) at(where(f), `${type.type} acts in the kernel on captured traffic: drop match.listener (an explicit listener's traffic is loopback, which is never touched)`);
      else if (l7) at(where(f), `${type.type} acts on packets: put it in a rule without protocol/http/grpc/sni`);
      else if (options.kernelFaults === false) at(where(f), `${type.type} needs on-demand interception (faultline sidecar --interception on-demand, or the pod annotation faultline.dev/interception: on-demand), which installs kernel rules; this sidecar cannot`);
    }
  }
}
