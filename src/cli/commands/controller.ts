import type { Command } from 'commander';
import { logger } from '../../log.js';
import { Metrics } from '../../metrics.js';
import { createMetricsServer } from '../../metrics-server.js';
import { listenLogged } from './sidecar.js';

/** The controller's own service-account mount (its pod's, unlike the sidecars' projected one). */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `faultline controller`: keeps FaultPolicy objects' status up to date, until SIGTERM. */
export function register(program: Command): void {
  program
    .command('controller')
    .description("keep every FaultPolicy's status up to date: the pods it selects, which applied its generation, errors")
    .option('--kubeconfig <file>', "a kubeconfig (default: the pod's service account)")
    .option('--health <host:port>', '/healthz, /readyz and /metrics', '0.0.0.0:15020')
    .action(async (flags: { kubeconfig?: string; health: string }) => {
      const { ApiClient } = await import('../../faultpolicy/api.js');
      const { FaultPolicyController } = await import('../../faultpolicy/controller.js');
      const api = flags.kubeconfig ? await ApiClient.fromKubeconfig(flags.kubeconfig) : await ApiClient.inCluster(SERVICE_ACCOUNT_DIR);
      const log = logger.child({ component: 'controller' });
      const health = createMetricsServer(new Metrics(), () => true);
      await listenLogged(health, flags.health, 'health');
      const controller = new FaultPolicyController({ api, log });
      controller.start();
      log.info({ server: api.server }, 'FaultPolicy controller started');
      const stop = () => {
        controller.stop();
        health.close(() => process.exit(0));
        setTimeout(() => process.exit(0), 2000).unref();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
