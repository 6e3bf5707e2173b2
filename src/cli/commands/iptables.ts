import type { Command } from 'commander';
import { configFromFlags, familiesFor, INTERCEPTION_OPTIONS, type InterceptionFlags } from '../../interception/config.js';
import { dataFormatOption, output, printData, type DataFormat } from '../output.js';
import { applyPlan, cleanupPlan, describePlan, runPlan } from '../../interception/iptables.js';

interface IptablesFlags extends InterceptionFlags {
  dryRun?: boolean;
  cleanup?: boolean;
}

/** Adds the shared interception options (`faultline iptables`, `faultline sidecar`) to a command. */
export function interceptionOptions(command: Command): Command {
  for (const [flag, description, fallback] of INTERCEPTION_OPTIONS) command.option(flag, description, fallback);
  return command;
}

/** `faultline iptables`: what the init container runs. */
export function register(program: Command): void {
  interceptionOptions(
    program
      .command('iptables')
      .description('set up (or print, or remove) the transparent interception rules; what the init container runs')
      .option('--dry-run', 'print the commands instead of running them')
      .option('--cleanup', 'remove every rule and chain faultline added (on-demand ones too)'),
  )
    .option('--inbound-capture-port <port>', 'where inbound traffic is redirected', '15006')
    .option('--outbound-capture-port <port>', 'where outbound traffic is redirected', '15001')
    .option('--sidecar-ports <ports>', "the sidecar's own ports (admin, metrics), never captured inbound", '15000,15020')
    .option('--intercept-dns', "also redirect the pod's outbound DNS (port 53, UDP and TCP, IPv4) to the sidecar's DNS proxy on 127.0.0.1:15053")
    .addOption(dataFormatOption())
    .action((flags: IptablesFlags & { output: DataFormat }) => {
      // Validate every value first, also for --cleanup, so that a typo never half-applies.
      const config = configFromFlags(flags);
      // A dry run changes nothing and may run unprivileged, so "auto" does not probe there.
      const families = familiesFor(flags.ipv6, !flags.dryRun);
      const plan = families.flatMap((family) => (flags.cleanup ? cleanupPlan(family) : applyPlan(config, family)));
      if (flags.dryRun) {
        const note = flags.ipv6 === 'auto' ? ['# IPv6: the same with ip6tables where its nat table is available (--ipv6 on prints it)'] : [];
        // -o json|yaml: the commands as a list, e.g. for a review tool.
        return void printData(flags.output, { commands: describePlan(plan), ...(note.length ? { note: note[0]?.slice(2) } : {}) }, () => `${[...describePlan(plan), ...note].join('\n')}\n`);
      }
      runPlan(plan);
      output.stdout(`faultline: interception rules ${flags.cleanup ? 'removed' : 'applied'} (IPv${families.join(' and IPv')})\n`);
    });
}
