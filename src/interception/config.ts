import { UsageError } from '../errors.js';
import { DEFAULT_CONFIG, ipv6Available, type InterceptionConfig } from './iptables.js';
import { parseCidrs, parsePorts, parseUid } from './values.js';

/**
 * The flags that shape interception, shared by `faultline iptables` (what the init container
 * runs), `faultline sidecar --interception on-demand` and the root helper the sidecar starts:
 * one table of options, one validation, so the three never disagree on a value.
 */
export interface InterceptionFlags {
  inboundPorts: string;
  excludeInboundPorts: string;
  excludeOutboundPorts: string;
  includeOutboundCidrs: string;
  excludeOutboundCidrs: string;
  proxyUid: string;
  proxyGid?: string | undefined;
  ipv6: string;
  /** The capture ports and the sidecar's own ports; the sidecar derives them from its listeners. */
  inboundCapturePort?: string | undefined;
  outboundCapturePort?: string | undefined;
  sidecarPorts?: string | undefined;
  /** `faultline iptables --intercept-dns`: redirect the pod's port-53 traffic to the DNS proxy. */
  interceptDns?: boolean | undefined;
  /** The DNS proxy's port on 127.0.0.1 (default 15053). */
  dnsCapturePort?: string | undefined;
}

/** [flag, description, default] of each shared option, in the order `--help` lists them. */
export const INTERCEPTION_OPTIONS: [string, string, string | undefined][] = [
  ['--inbound-ports <ports>', 'inbound ports to capture, comma-separated, or * for all', '*'],
  ['--exclude-inbound-ports <ports>', 'inbound ports never captured', ''],
  ['--exclude-outbound-ports <ports>', 'outbound destination ports never captured', ''],
  ['--include-outbound-cidrs <cidrs>', 'capture outbound traffic only to these CIDRs (default: all)', ''],
  ['--exclude-outbound-cidrs <cidrs>', 'outbound destinations never captured', ''],
  ['--proxy-uid <uid>', "the sidecar's user id; its own traffic is never captured", '1337'],
  ['--proxy-gid <gid>', "the sidecar's group id (default: the uid)", undefined],
  ['--ipv6 <mode>', 'also set up ip6tables: auto (when available), on, off', 'auto'],
];

/** The flags as the command line of `faultline iptables`/the helper (every value already validated). */
export function flagsToArgs(flags: InterceptionFlags): string[] {
  const args: string[] = [];
  const add = (flag: string, value: string | undefined) => value !== undefined && args.push(flag, value);
  add('--inbound-ports', flags.inboundPorts);
  add('--exclude-inbound-ports', flags.excludeInboundPorts);
  add('--exclude-outbound-ports', flags.excludeOutboundPorts);
  add('--include-outbound-cidrs', flags.includeOutboundCidrs);
  add('--exclude-outbound-cidrs', flags.excludeOutboundCidrs);
  add('--proxy-uid', flags.proxyUid);
  add('--proxy-gid', flags.proxyGid);
  add('--ipv6', flags.ipv6);
  add('--inbound-capture-port', flags.inboundCapturePort);
  add('--outbound-capture-port', flags.outboundCapturePort);
  add('--sidecar-ports', flags.sidecarPorts);
  add('--dns-capture-port', flags.dnsCapturePort);
  return args;
}

/** Turns the flags into the interception config; throws a UsageError naming a bad value. */
export function configFromFlags(flags: InterceptionFlags): InterceptionConfig {
  if (!['auto', 'on', 'off'].includes(flags.ipv6)) throw new UsageError(`--ipv6: "${flags.ipv6}" must be auto, on or off`);
  const single = (value: string | undefined, flag: string, fallback: number) => (value === undefined ? fallback : (parsePorts(value, flag)[0] ?? fallback));
  const uid = parseUid(flags.proxyUid, '--proxy-uid');
  return {
    ...DEFAULT_CONFIG,
    proxyUid: uid,
    proxyGid: flags.proxyGid === undefined ? uid : parseUid(flags.proxyGid, '--proxy-gid'),
    inboundCapturePort: single(flags.inboundCapturePort, '--inbound-capture-port', DEFAULT_CONFIG.inboundCapturePort),
    outboundCapturePort: single(flags.outboundCapturePort, '--outbound-capture-port', DEFAULT_CONFIG.outboundCapturePort),
    inboundPorts: flags.inboundPorts.trim() === '*' ? '*' : parsePorts(flags.inboundPorts, '--inbound-ports'),
    excludeInboundPorts: parsePorts(flags.excludeInboundPorts, '--exclude-inbound-ports'),
    excludeOutboundPorts: parsePorts(flags.excludeOutboundPorts, '--exclude-outbound-ports'),
    includeOutboundCidrs: parseCidrs(flags.includeOutboundCidrs, '--include-outbound-cidrs'),
    excludeOutboundCidrs: parseCidrs(flags.excludeOutboundCidrs, '--exclude-outbound-cidrs'),
    sidecarPorts: flags.sidecarPorts === undefined ? DEFAULT_CONFIG.sidecarPorts : parsePorts(flags.sidecarPorts, '--sidecar-ports'),
    interceptDns: flags.interceptDns === true,
    dnsCapturePort: single(flags.dnsCapturePort, '--dns-capture-port', DEFAULT_CONFIG.dnsCapturePort),
  };
}

/** The IP families to set up: IPv6 `on`, `off`, or `auto` (when ip6tables' nat table works; never probed when `probe` is false). */
export function familiesFor(ipv6: string, probe = true): (4 | 6)[] {
  return ipv6 === 'on' || (ipv6 === 'auto' && probe && ipv6Available()) ? [4, 6] : [4];
}
