import type { Server } from 'node:http';
import { CommanderError, type Command } from 'commander';
import { AdminCredentials } from '../../admin/auth.js';
import { HostCheck } from '../../admin/host-check.js';
import { RuntimeLayers } from '../../admin/layers.js';
import { createAdminServer } from '../../admin/server.js';
import { FaultlineError, UsageError } from '../../errors.js';
import { hostPortFlag, isLoopbackHost } from '../../net/address.js';
import { configFromFlags, flagsToArgs, INTERCEPTION_OPTIONS, type InterceptionFlags } from '../../interception/config.js';
import type { InterceptionHelper } from '../../interception/helper-client.js';
import { OnDemandInterception } from '../../interception/on-demand.js';
import { parsePorts } from '../../interception/values.js';
import { flushLog, logger } from '../../log.js';
import { output } from '../output.js';
import { createMetricsServer } from '../../metrics-server.js';
import { durationFlag } from '../../policy/units.js';
import { Sidecar } from '../../sidecar.js';
import { startFromFlags as startFaultPolicies, type FaultPolicyFlags } from '../../faultpolicy/source.js';
import { createToxiproxyServer } from '../../toxiproxy/server.js';
import { interceptionOptions } from './iptables.js';

export interface SidecarFlags extends Partial<InterceptionFlags>, FaultPolicyFlags {
  policy: string;
  metrics: string;
  drainTimeout: string;
  /** Explicit --admin; absent means DEFAULT_ADMIN, bound on a best-effort basis. */
  admin?: string;
  adminTokenFile?: string;
  /** Host names the admin and Toxiproxy APIs answer besides IPs, localhost and the pod's name (comma-separated). */
  adminAllowedHosts?: string;
  /** DIR with the files view, killswitch and rules (the namespace's credential Secrets, in a pod). */
  adminCredentials?: string;
  /** A missing policy file is an empty policy, applied when the file appears. */
  allowMissingPolicy?: boolean;
  toxiproxyApi?: string;
  inboundPort?: string;
  outboundPort?: string;
  /** `always` (the init container's rules, or none) or `on-demand` (the sidecar's own, while faults need them). */
  interception?: string;
  interceptionLease?: string;
  /** The transparent DNS proxy's port on 127.0.0.1 (UDP and TCP); see startDnsProxy. */
  dnsPort?: string;
  dnsUpstream?: string;
  /** The CA the apps trust, for `tls: terminate` and CA-signed bad certificates (PEM files). */
  tlsCaCert?: string;
  tlsCaKey?: string;
  /** PEM bundle the upstreams of terminated connections are verified against (default: Node's public roots). */
  tlsUpstreamCa?: string;
}

/** The TLS files of the flags: the CA's certificate and key come together. */
function tlsFiles(flags: SidecarFlags): { caCert?: string; caKey?: string; upstreamCa?: string } {
  if ((flags.tlsCaCert === undefined) !== (flags.tlsCaKey === undefined)) throw new UsageError('--tls-ca-cert and --tls-ca-key go together: the CA certificate and its private key (PEM files)');
  return { caCert: flags.tlsCaCert, caKey: flags.tlsCaKey, upstreamCa: flags.tlsUpstreamCa };
}

/** --admin-allowed-hosts: DNS names, comma-separated. */
function allowedHosts(value: string | undefined): string[] {
  const names = (value ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  const bad = names.find((n) => !/^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?$/.test(n));
  if (bad !== undefined) throw new UsageError(`--admin-allowed-hosts: "${bad}" is not a host name`);
  return names;
}

/** On-demand interception's start: its helper runs, and this process has dropped to the proxy's UID. */
interface OnDemandStart {
  helper: InterceptionHelper;
  leaseMs: number;
}

/** --dns-port: 0 (any free port) to 65535. */
function dnsPortFlag(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`--dns-port: "${value}" is not a port (0-65535)`);
  return Number(value);
}

/** Listens on HOST:PORT and logs the address actually bound (port 0 picks one). */
export function listenLogged(server: Server, hostPort: string, what: string, emptyHost?: string): Promise<void> {
  const { host, port } = hostPortFlag(hostPort, `--${what}`, emptyHost);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const info = server.address();
      if (info && typeof info === 'object') logger.info({ component: what, address: `${info.address}:${info.port}` }, 'listening');
      resolve();
    });
  });
}

/** SPEC's admin address. */
export const DEFAULT_ADMIN = '127.0.0.1:15000';

export { isLoopbackHost };

/**
 * Binds the admin API. An explicit --admin that cannot bind is fatal; the default one is best
 * effort: with 15000 taken (two sidecars in one network namespace, a test run), the data plane
 * runs on without the admin API, and the error is logged.
 */
async function listenAdmin(server: Server, flag: string | undefined): Promise<void> {
  try {
    await listenLogged(server, flag ?? DEFAULT_ADMIN, 'admin');
  } catch (err) {
    if (flag !== undefined) throw err;
    logger.error({ component: 'admin', address: DEFAULT_ADMIN, cause: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'admin API not started: its default address is taken (give --admin HOST:PORT)');
  }
}

/**
 * `--interception on-demand`: every value validated, the root helper started, then this process
 * drops to the proxy's UID/GID for good, before it reads a file or binds a socket. The capture
 * ports default to 15006/15001 when neither is given.
 */
async function prepareOnDemand(flags: SidecarFlags): Promise<OnDemandStart> {
  if (flags.inboundPort === undefined && flags.outboundPort === undefined) Object.assign(flags, { inboundPort: '15006', outboundPort: '15001' });
  const leaseMs = durationFlag(flags.interceptionLease ?? '10s', '--interception-lease', { minMs: 3000, maxMs: 3_600_000 });
  const own = [flags.metrics, flags.admin ?? DEFAULT_ADMIN, flags.toxiproxyApi].filter((v): v is string => v !== undefined).map((v) => hostPortFlag(v, 'address').port);
  const interception: InterceptionFlags = {
    inboundPorts: flags.inboundPorts ?? '*',
    excludeInboundPorts: flags.excludeInboundPorts ?? '',
    excludeOutboundPorts: flags.excludeOutboundPorts ?? '',
    includeOutboundCidrs: flags.includeOutboundCidrs ?? '',
    excludeOutboundCidrs: flags.excludeOutboundCidrs ?? '',
    proxyUid: flags.proxyUid ?? '1337',
    proxyGid: flags.proxyGid,
    ipv6: flags.ipv6 ?? 'auto',
    // A direction without a listener is never redirected; its port only stays exempt.
    inboundCapturePort: flags.inboundPort ?? '15006',
    outboundCapturePort: flags.outboundPort ?? '15001',
    sidecarPorts: [...new Set([15000, 15020, ...own.filter((p) => p !== 0)])].join(','),
    dnsCapturePort: flags.dnsPort ?? String(DEFAULT_DNS_PORT),
  };
  const config = configFromFlags(interception);
  if (process.getuid?.() !== 0) {
    // Not a usage error: the same command works as root (exit 1).
    throw new FaultlineError('FL_ERR_NOT_ROOT', '--interception on-demand starts as root (with NET_ADMIN and NET_RAW): it keeps a root helper for iptables and runs the proxy itself as --proxy-uid (see the README, "On-demand interception")');
  }
  const { InterceptionHelper } = await import('../../interception/helper-client.js');
  const { dropPrivileges } = await import('../../interception/privileges.js');
  const helper = await InterceptionHelper.start([...flagsToArgs(interception), '--lease-ms', String(leaseMs)]);
  dropPrivileges(config.proxyUid, config.proxyGid);
  logger.info({ component: 'interception', helper: helper.pid, uid: config.proxyUid, gid: config.proxyGid, families: helper.families, leaseMs }, 'on-demand interception: helper ready, running as the proxy user');
  return { helper, leaseMs };
}

/** Runs a sidecar until SIGTERM/SIGINT, then drains. */
export async function runSidecar(flags: SidecarFlags): Promise<Sidecar> {
  const mode = flags.interception ?? 'always';
  if (mode !== 'always' && mode !== 'on-demand') throw new UsageError(`--interception: "${mode}" must be always or on-demand`);
  const drainTimeoutMs = durationFlag(flags.drainTimeout, '--drain-timeout', { maxMs: 3_600_000 });
  const onDemand = mode === 'on-demand' ? await prepareOnDemand(flags) : undefined;
  // Kernel faults (packet_loss) need the root helper: only on-demand sidecars take them.
  const tls = tlsFiles(flags);
  const sidecar = new Sidecar({ policyFile: flags.policy, drainTimeoutMs, kernelFaults: onDemand !== undefined, allowMissingPolicy: flags.allowMissingPolicy === true, tls });
  // Ready once the policy is loaded and every listener and API is bound.
  let bound = false;
  const metricsServer = createMetricsServer(sidecar.metrics, () => bound && sidecar.ready, { '/faultpolicies': () => sidecar.faultPolicies?.document() ?? { policies: [] } });
  // The admin and Toxiproxy APIs share the runtime layer; a bad token file fails before any bind.
  const layers = new RuntimeLayers(sidecar);
  // Reachable from the pod network (the API server's pod proxy): reads need a credential too.
  const protectReads = !isLoopbackHost(hostPortFlag(flags.admin ?? DEFAULT_ADMIN, '--admin').host);
  const credentials = new AdminCredentials({ tokenFile: flags.adminTokenFile, credentialsDir: flags.adminCredentials, protectReads });
  logger.info({ component: 'admin', credentials: credentials.levels(), protectReads }, credentials.configured ? 'admin credentials loaded' : 'no admin credential: changes through the admin API are refused');
  const hosts = new HostCheck(allowedHosts(flags.adminAllowedHosts));
  const adminServer = createAdminServer({ sidecar, layers, credentials, hosts, log: logger });
  const toxiproxyServer = flags.toxiproxyApi === undefined ? undefined : createToxiproxyServer({ layers, metrics: sidecar.metrics, hosts, log: logger });
  const servers = [metricsServer, adminServer, ...(toxiproxyServer ? [toxiproxyServer] : [])];
  try {
    await listenLogged(metricsServer, flags.metrics, 'metrics');
    await startListeners(sidecar, flags);
    await listenAdmin(adminServer, flags.admin);
    // Toxiproxy's API has no credential: ":8474" binds loopback, only an explicit address more.
    if (toxiproxyServer) await listenLogged(toxiproxyServer, flags.toxiproxyApi as string, 'toxiproxy-api', '127.0.0.1');
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the helper's IPC channel would).
    for (const server of servers) server.close();
    await sidecar.drain(0);
    onDemand?.helper.close();
    throw err;
  }
  const controller = onDemand ? await startOnDemand(sidecar, onDemand, flags) : undefined;
  const stopFaultPolicies = await startFaultPolicies(flags, sidecar, layers, logger, onDemand !== undefined);
  bound = true;
  let stopping = false;
  const stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    stopFaultPolicies?.();
    // Rules first: new connections go direct while the live ones drain through us.
    await controller?.stop();
    logger.info({ signal }, 'stopping: draining live connections');
    await sidecar.drain();
    await controller?.close();
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    await flushLog();
    process.exit(code);
  };
  onDemand?.helper.onExit((why) => {
    logger.fatal({ component: 'interception', why }, 'the interception helper exited: stopping (its rules are removed, or inert once their lease ends)');
    void stop('helper exit', 1);
  });
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return sidecar;
}

/** Starts following the policy with on-demand rules, once every listener is bound. */
async function startOnDemand(sidecar: Sidecar, { helper, leaseMs }: OnDemandStart, flags: SidecarFlags): Promise<OnDemandInterception> {
  const capture = { inbound: flags.inboundPort !== undefined, outbound: flags.outboundPort !== undefined, dns: sidecar.transparentDns !== undefined };
  const controller = new OnDemandInterception(sidecar, helper, { leaseMs, capture, log: logger.child({ component: 'interception' }) });
  sidecar.interception = controller;
  await controller.start();
  return controller;
}

/** Loads the policy and binds its listeners, then the capture listeners when their ports are given. */
async function startListeners(sidecar: Sidecar, flags: SidecarFlags): Promise<void> {
  await sidecar.start();
  if (flags.inboundPort !== undefined || flags.outboundPort !== undefined) {
    // Transparent mode: refuse to start without the native helper rather than misroute traffic.
    const { getOriginalDestination, loadOriginalDstHelper } = await import('../../interception/original-dst.js');
    loadOriginalDstHelper();
    const port = (value: string | undefined, flag: string) => (value === undefined ? undefined : parsePorts(value, flag)[0]);
    await sidecar.addCaptureListeners(
      { inbound: port(flags.inboundPort, '--inbound-port'), outbound: port(flags.outboundPort, '--outbound-port') },
      getOriginalDestination,
    );
  }
  await startDnsProxy(sidecar, flags);
}

/** The transparent DNS proxy's default port (Istio's). */
export const DEFAULT_DNS_PORT = 15053;

/**
 * The transparent DNS proxy on 127.0.0.1 (where iptables' REDIRECT delivers the pod's port-53
 * traffic), forwarding to --dns-upstream or the pod's resolver. It runs when --dns-port is
 * given, and by default (on 15053) with capture listeners or on-demand interception; the
 * default one is best effort, like the admin API's: a taken port is logged, not fatal.
 */
async function startDnsProxy(sidecar: Sidecar, flags: SidecarFlags): Promise<void> {
  const transparent = flags.inboundPort !== undefined || flags.outboundPort !== undefined || flags.interception === 'on-demand';
  if (flags.dnsPort === undefined && !transparent) return;
  const { parseDnsUpstream, systemResolver } = await import('../../dns/resolv.js');
  // Port 0 picks a free port, as in every HOST:PORT.
  const port = flags.dnsPort === undefined ? DEFAULT_DNS_PORT : dnsPortFlag(flags.dnsPort);
  try {
    const upstream = flags.dnsUpstream === undefined ? systemResolver() : parseDnsUpstream(flags.dnsUpstream);
    await sidecar.addDnsProxy('127.0.0.1', port, upstream);
  } catch (err) {
    if (flags.dnsPort !== undefined || flags.dnsUpstream !== undefined) throw err;
    logger.error({ component: 'dns', port, cause: (err as Error).message }, 'DNS proxy not started (give --dns-port and --dns-upstream to make it required)');
  }
}

/** The shared interception options only mean something with on-demand interception. */
function refuseStrayOptions(command: Command, flags: SidecarFlags): void {
  if (flags.interception === 'on-demand') return;
  const names = INTERCEPTION_OPTIONS.map(([flag]) => flag.split(' ')[0] as string);
  const given = names.filter((name) => command.getOptionValueSource(name.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase())) === 'cli');
  if (flags.interceptionLease !== undefined) given.push('--interception-lease');
  if (given.length > 0) throw new UsageError(`${given.join(', ')}: only with --interception on-demand (with always, the init container's \`faultline iptables\` takes them)`);
}

export function register(program: Command): void {
  const command = program
    .command('sidecar')
    .description('run the sidecar: the policy\'s listeners with its faults, hot-reloading the policy file')
    .requiredOption('--policy <file>', 'policy file (YAML); re-read when it changes')
    .option('--metrics <host:port>', 'metrics and health endpoint', '0.0.0.0:15020')
    .option('--drain-timeout <duration>', 'on SIGTERM, how long live connections may finish (new ones are still served meanwhile), e.g. 5s', '5s')
    .option('--admin <host:port>', `admin API and /ui; changes need --admin-token-file (default ${DEFAULT_ADMIN})`)
    .option('--admin-allowed-hosts <names>', 'Host names the admin and Toxiproxy APIs answer besides IPs, localhost and the pod name (comma-separated; others get 403, against DNS rebinding)')
    .option('--admin-token-file <file>', 'file holding a bearer token that grants every admin call')
    .option('--admin-credentials <dir>', 'directory with the credential files view, killswitch and rules (each optional; re-read when they change)')
    .option('--allow-missing-policy', 'a missing policy file means no fault until it appears (and its removal ends its faults); an invalid one at start is reported, not fatal')
    .option('--toxiproxy-api <host:port>', 'serve the Toxiproxy v2 HTTP API here (usually 127.0.0.1:8474); off by default')
    .option('--inbound-port <port>', 'transparent inbound capture listener (15006 in a pod)')
    .option('--outbound-port <port>', 'transparent outbound capture listener (15001 in a pod)')
    .option('--interception <mode>', 'always: the init container redirects; on-demand: the sidecar installs redirect rules only while a fault needs them (starts as root)', 'always')
    .option('--interception-lease <duration>', 'on-demand: rules go inert this long after the sidecar stops renewing them (default 10s)')
    .option('--dns-port <port>', `transparent DNS proxy on 127.0.0.1, UDP and TCP (default ${DEFAULT_DNS_PORT} with capture listeners or on-demand interception)`)
    .option('--dns-upstream <ip:port>', "where the DNS proxy forwards (default: the first nameserver of /etc/resolv.conf)")
    .option('--faultpolicies', "also apply the FaultPolicy objects of the pod's namespace that select this pod (watched through the API)")
    .option('--pod-info <dir>', 'with --faultpolicies: the Downward API volume (name, namespace, labels)', '/var/run/faultline/pod')
    .option('--kube-credentials <dir>', "with --faultpolicies: the sidecar's projected service-account volume (token, ca.crt)", '/var/run/faultline/kubernetes')
    .option('--kubeconfig <file>', 'with --faultpolicies: a kubeconfig instead of the in-cluster credentials')
    .option('--tls-ca-cert <file>', 'PEM certificate of a CA the apps trust: tls: terminate rules sign a leaf per server name with it (with --tls-ca-key)')
    .option('--tls-ca-key <file>', "PEM private key of --tls-ca-cert's CA (never logged or served)")
    .option('--tls-upstream-ca <file>', "PEM bundle the upstreams of terminated TLS connections are verified against (default: Node's public roots)");
  interceptionOptions(command).action(async (flags: SidecarFlags, cmd: Command) => {
    try {
      refuseStrayOptions(cmd, flags);
      await runSidecar(flags);
    } catch (err) {
      // A bad flag value (found once parsed) is a usage error: one line, exit 2.
      if (!(err instanceof UsageError)) throw err;
      output.stderr(`faultline: ${err.message}\n`);
      throw new CommanderError(2, err.code, err.message);
    }
  });
}
