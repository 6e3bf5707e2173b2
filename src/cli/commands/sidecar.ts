import type { Server } from 'node:http';
import type { Command } from 'commander';
import { parseHostPort } from '../../errors.js';
import { parsePorts } from '../../interception/values.js';
import { logger } from '../../log.js';
import { createMetricsServer } from '../../metrics-server.js';
import { Sidecar } from '../../sidecar.js';

export interface SidecarFlags {
  policy: string;
  metrics: string;
  drainTimeout: string;
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

/** Runs a sidecar until SIGTERM/SIGINT, then drains. */
export async function runSidecar(flags: SidecarFlags): Promise<Sidecar> {
  const drainTimeoutMs = Number(flags.drainTimeout);
  const sidecar = new Sidecar({ policyFile: flags.policy, drainTimeoutMs });
  const metricsServer = createMetricsServer(sidecar.metrics, () => sidecar.ready);
  await listenLogged(metricsServer, flags.metrics, 'metrics');
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
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping: draining live connections');
    void sidecar.drain().then(() => {
      metricsServer.close();
      metricsServer.closeAllConnections();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return sidecar;
}

export function register(program: Command): void {
  program
    .command('sidecar')
    .description('run the sidecar: the policy\'s listeners with its faults, hot-reloading the policy file')
    .requiredOption('--policy <file>', 'policy file (YAML); re-read when it changes')
    .option('--metrics <host:port>', 'metrics and health endpoint', '0.0.0.0:15020')
    .option('--drain-timeout <ms>', 'on SIGTERM, how long live connections may finish', '5000')
    .option('--inbound-port <port>', 'transparent inbound capture listener (15006 in a pod)')
    .option('--outbound-port <port>', 'transparent outbound capture listener (15001 in a pod)')
    .action(async (flags: SidecarFlags) => {
      await runSidecar(flags);
    });
}
