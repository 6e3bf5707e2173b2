import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { applyPlan, cleanupPlan, DEFAULT_CONFIG, describePlan, ipv6Available, runPlan, type InterceptionConfig } from '../../interception/iptables.js';
import { parseCidrs, parsePorts, parseUid } from '../../interception/values.js';

interface IptablesFlags {
  dryRun?: boolean;
  cleanup?: boolean;
  inboundPorts: string;
  excludeInboundPorts: string;
  excludeOutboundPorts: string;
  includeOutboundCidrs: string;
  excludeOutboundCidrs: string;
  proxyUid: string;
  proxyGid?: string;
  inboundCapturePort: string;
  outboundCapturePort: string;
  ipv6: string;
}

/** Turns validated flags into the interception config; throws a UsageError naming a bad value. */
export function configFromFlags(flags: IptablesFlags): InterceptionConfig {
  const [inboundCapturePort] = parsePorts(flags.inboundCapturePort, '--inbound-capture-port');
  const [outboundCapturePort] = parsePorts(flags.outboundCapturePort, '--outbound-capture-port');
  const uid = parseUid(flags.proxyUid, '--proxy-uid');
  return {
    ...DEFAULT_CONFIG,
    proxyUid: uid,
    proxyGid: flags.proxyGid === undefined ? uid : parseUid(flags.proxyGid, '--proxy-gid'),
    inboundCapturePort: inboundCapturePort ?? DEFAULT_CONFIG.inboundCapturePort,
    outboundCapturePort: outboundCapturePort ?? DEFAULT_CONFIG.outboundCapturePort,
    inboundPorts: flags.inboundPorts.trim() === '*' ? '*' : parsePorts(flags.inboundPorts, '--inbound-ports'),
    excludeInboundPorts: parsePorts(flags.excludeInboundPorts, '--exclude-inbound-ports'),
    excludeOutboundPorts: parsePorts(flags.excludeOutboundPorts, '--exclude-outbound-ports'),
    includeOutboundCidrs: parseCidrs(flags.includeOutboundCidrs, '--include-outbound-cidrs'),
    excludeOutboundCidrs: parseCidrs(flags.excludeOutboundCidrs, '--exclude-outbound-cidrs'),
  };
}

/** `faultline iptables`: what the init container runs. */
export function register(program: Command): void {
  program
    .command('iptables')
    .description('set up (or print, or remove) the transparent interception rules; what the init container runs')
    .option('--dry-run', 'print the commands instead of running them')
    .option('--cleanup', 'remove every rule and chain faultline added')
    .option('--inbound-ports <ports>', 'inbound ports to capture, comma-separated, or * for all', '*')
    .option('--exclude-inbound-ports <ports>', 'inbound ports never captured', '')
    .option('--exclude-outbound-ports <ports>', 'outbound destination ports never captured', '')
    .option('--include-outbound-cidrs <cidrs>', 'capture outbound traffic only to these CIDRs (default: all)', '')
    .option('--exclude-outbound-cidrs <cidrs>', 'outbound destinations never captured', '')
    .option('--proxy-uid <uid>', 'the sidecar\'s user id; its own traffic is never captured', '1337')
    .option('--proxy-gid <gid>', 'the sidecar\'s group id (default: the uid)')
    .option('--inbound-capture-port <port>', 'where inbound traffic is redirected', '15006')
    .option('--outbound-capture-port <port>', 'where outbound traffic is redirected', '15001')
    .option('--ipv6 <mode>', 'also set up ip6tables: auto (when available), on, off', 'auto')
    .action((flags: IptablesFlags) => {
      if (!['auto', 'on', 'off'].includes(flags.ipv6)) throw new UsageError(`--ipv6: "${flags.ipv6}" must be auto, on or off`);
      // Validate every value first, also for --cleanup, so that a typo never half-applies.
      const config = configFromFlags(flags);
      const families: (4 | 6)[] = [4];
      // A dry run changes nothing and may run unprivileged, so "auto" does not probe there.
      if (flags.ipv6 === 'on' || (flags.ipv6 === 'auto' && !flags.dryRun && ipv6Available())) families.push(6);
      const plan = families.flatMap((family) => (flags.cleanup ? cleanupPlan(family) : applyPlan(config, family)));
      if (flags.dryRun) {
        const note = flags.ipv6 === 'auto' ? ['# IPv6: the same with ip6tables where its nat table is available (--ipv6 on prints it)'] : [];
        return void process.stdout.write(`${[...describePlan(plan), ...note].join('\n')}\n`);
      }
      runPlan(plan);
      process.stdout.write(`faultline: interception rules ${flags.cleanup ? 'removed' : 'applied'} (IPv${families.join(' and IPv')})\n`);
    });
}
