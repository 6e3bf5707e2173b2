import type { LossSelection } from './demand.js';
import { FILTER_CHAINS, neverInboundPorts, type InterceptionConfig } from './iptables.js';

const PROTOCOLS = ['tcp', 'udp'] as const;

/** iptables' statistic match takes a decimal; six places are more than any policy means. */
const probabilityText = (p: number) => String(Math.round(p * 1e6) / 1e6);

/**
 * The filter chains of `packet_loss` for one family: FAULTLINE_LOSS_IN (what arrives) and
 * FAULTLINE_LOSS_OUT (what leaves), each from its lease, then exemptions, then one DROP rule with
 * netfilter's statistic match per selection, protocol (TCP and UDP) and port. Packets are matched
 * on their connection's original tuple (conntrack), so a connection the sidecar also redirects
 * (REDIRECT rewrote its port) is matched by the peers and ports the policy names, and the
 * connection's direction picks the stream: `--ctdir ORIGINAL` is client → server (upstream),
 * REPLY server → client (downstream). Loopback (the sidecar's own hops) is never touched, nor
 * the sidecar's ports, nor the pod's excluded ports and CIDRs.
 */
export function lossChains(config: InterceptionConfig, family: 4 | 6, losses: LossSelection[], lease: string[]): Map<string, string[][]> {
  const excludedCidrs = config.excludeOutboundCidrs.filter((c) => c.family === family).map((c) => c.cidr);
  const exemptPorts = [...new Set([...neverInboundPorts(config), ...config.excludeOutboundPorts])].sort((a, b) => a - b);
  const chain = (hook: 'in' | 'out') => [
    lease,
    [hook === 'in' ? '-i' : '-o', 'lo', '-j', 'RETURN'],
    ...PROTOCOLS.flatMap((p) => exemptPorts.map((port) => ['-p', p, '-m', 'conntrack', '--ctorigdstport', String(port), '-j', 'RETURN'])),
    ...excludedCidrs.map((c) => [hook === 'in' ? '-s' : '-d', c, '-j', 'RETURN']),
    ...losses.flatMap((s) => lossRules(s, hook)),
  ];
  return new Map([
    [FILTER_CHAINS.lossIn, chain('in')],
    [FILTER_CHAINS.lossOut, chain('out')],
  ]);
}

/** One selection's DROP rules for packets arriving (`in`) or leaving (`out`): none when its stream does not pass there. */
function lossRules(s: LossSelection, hook: 'in' | 'out'): string[][] {
  // Arriving packets are an inbound connection's requests and an outbound one's replies.
  const stream = (hook === 'in') === (s.direction === 'inbound') ? 'upstream' : 'downstream';
  if (!s.streams.includes(stream)) return [];
  const tuple = [
    ...(s.source ? ['--ctorigsrc', s.source] : []),
    ...(s.destination ? ['--ctorigdst', s.destination] : []),
    ...(s.sourcePort ? ['--ctorigsrcport', String(s.sourcePort)] : []),
  ];
  const drop = ['-m', 'statistic', '--mode', 'random', '--probability', probabilityText(s.probability), '-j', 'DROP'];
  // The pod's own TCP SYNs are never dropped here: a SYN netfilter drops on its way out makes
  // connect() fail at once with EPERM, which no network does (the SYN-ACK coming back can still
  // be lost, and the client then sends its SYN again, as it would on a lossy path). Other
  // outgoing segments dropped here are sent again by the pod's TCP.
  const opens = (p: (typeof PROTOCOLS)[number]) => (p === 'tcp' && hook === 'out' ? ['!', '--syn'] : []);
  return PROTOCOLS.flatMap((p) =>
    (s.ports ?? [undefined]).map((port) => ['-p', p, ...opens(p), '-m', 'conntrack', '--ctdir', stream === 'upstream' ? 'ORIGINAL' : 'REPLY', ...tuple, ...(port ? ['--ctorigdstport', String(port)] : []), ...drop]),
  );
}
