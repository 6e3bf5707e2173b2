import type { Server } from 'node:http';
import type { Command } from 'commander';
import { RuntimeLayers } from '../../admin/layers.js';
import { createAdminServer } from '../../admin/server.js';
import { parseHostPort } from '../../errors.js';
import { parsePorts } from '../../interception/values.js';
import { logger } from '../../log.js';
import { createMetricsServer } from '../../metrics-server.js';
import { Sidecar } from '../../sidecar.js';
import { createToxiproxyServer } from '../../toxiproxy/server.js';

export interface SidecarFlags {
  policy: string;
  metrics: string;
  drainTimeout: string;
  /** Explicit --admin; absent means DEFAULT_ADMIN, bound on a best-effort basis. */
  admin?: string;
  adminTokenFile?: string;
  toxiproxyApi?: string;
  inboundPort?: string;
  outboundPort?: string;
}

/** Listens on HOST:PORT and logs the address actually bound (port 0 picks one). */
export function listenLogged(server: Server, hostPort: string, what: string): Promise<void> {
  const { host, port } = parseHostPort(hostPort, what);
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

/** Runs a sidecar until SIGTERM/SIGINT, then drains. */
export async function runSidecar(flags: SidecarFlags): Promise<Sidecar> {
  const drainTimeoutMs = Number(flags.drainTimeout);
  const sidecar = new Sidecar({ policyFile: flags.policy, drainTimeoutMs });
  // Ready once the policy is loaded and every listener and API is bound.
  let bound = false;
  const metricsServer = createMetricsServer(sidecar.metrics, () => bound && sidecar.ready);
  // The admin and Toxiproxy APIs share the runtime layer; a bad token file fails before any bind.
  const layers = new RuntimeLayers(sidecar);
  const adminServer = createAdminServer({ sidecar, layers, tokenFile: flags.adminTokenFile, log: logger });
  const toxiproxyServer = flags.toxiproxyApi === undefined ? undefined : createToxiproxyServer({ layers, metrics: sidecar.metrics, log: logger });
  const servers = [metricsServer, adminServer, ...(toxiproxyServer ? [toxiproxyServer] : [])];
  try {
    await listenLogged(metricsServer, flags.metrics, 'metrics');
    await startListeners(sidecar, flags);
    await listenAdmin(adminServer, flags.admin);
    if (toxiproxyServer) await listenLogged(toxiproxyServer, flags.toxiproxyApi as string, 'toxiproxy-api');
  } catch (err) {
    // Nothing may keep the process alive after a failed start.
    for (const server of servers) server.close();
    await sidecar.drain(0);
    throw err;
  }
  bound = true;
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping: draining live connections');
    void sidecar.drain().then(() => {
      for (const server of servers) {
        server.close();
        server.closeAllConnections();
      }
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return sidecar;
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
}

export function register(program: Command): void {
  program
    .command('sidecar')
    .description('run the sidecar: the policy\'s listeners with its faults, hot-reloading the policy file')
    .requiredOption('--policy <file>', 'policy file (YAML); re-read when it changes')
    .option('--metrics <host:port>', 'metrics and health endpoint', '0.0.0.0:15020')
    .option('--drain-timeout <ms>', 'on SIGTERM, how long live connections may finish', '5000')
    .option('--admin <host:port>', `admin API and /ui; changes need --admin-token-file (default ${DEFAULT_ADMIN})`)
    .option('--admin-token-file <file>', 'file holding the bearer token of mutating admin calls')
    .option('--toxiproxy-api <host:port>', 'serve the Toxiproxy v2 HTTP API here (usually 127.0.0.1:8474); off by default')
    .option('--inbound-port <port>', 'transparent inbound capture listener (15006 in a pod)')
    .option('--outbound-port <port>', 'transparent outbound capture listener (15001 in a pod)')
    .action(async (flags: SidecarFlags) => {
      await runSidecar(flags);
    });
}
