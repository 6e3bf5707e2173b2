import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError, ListenError, UsageError } from '../../errors.js';
import { parsePorts } from '../../interception/values.js';
import { INTERCEPTION_MODES, type Interception } from '../../kubernetes/annotations.js';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { Kube } from '../../kubernetes/client.js';
import { CredentialProvisioner } from '../../kubernetes/credentials.js';
import { createWebhookServer, reloadTlsOnChange } from '../../kubernetes/webhook.js';
import { logger } from '../../log.js';

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InputError(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** `faultline webhook`: the mutating admission webhook, until SIGTERM. */
export function register(program: Command): void {
  program
    .command('webhook')
    .description('the mutating admission webhook (AdmissionReview v1 on POST /inject, GET /healthz)')
    .requiredOption('--tls-cert <file>', 'TLS certificate (PEM)')
    .requiredOption('--tls-key <file>', 'TLS private key (PEM)')
    .option('--port <port>', 'HTTPS port', '8443')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--image <image>', 'the faultline image injected into pods', DEFAULT_IMAGE)
    .option('--default-interception <mode>', 'interception of pods without faultline.dev/interception: always, on-demand or none', 'always')
    .option('--no-credentials', 'do not create the namespaces\' admin credential Secrets (then run `faultline credentials create -n NS`)')
    .action(async (flags: { tlsCert: string; tlsKey: string; port: string; host: string; image: string; defaultInterception: string; credentials: boolean }) => {
      const [port] = flags.port === '0' ? [0] : parsePorts(flags.port, '--port');
      if (!(INTERCEPTION_MODES as readonly string[]).includes(flags.defaultInterception)) {
        throw new UsageError(`--default-interception: "${flags.defaultInterception}" must be always, on-demand or none`);
      }
      const log = logger.child({ component: 'webhook' });
      // The Kubernetes client is loaded at the first injection, not at start (in-cluster: the pod's service account).
      let kube: Promise<Kube> | undefined;
      const loadKube = () => (kube ??= Kube.load().catch((err: unknown) => ((kube = undefined), Promise.reject(err))));
      const provisioner = flags.credentials ? new CredentialProvisioner(loadKube, log) : undefined;
      const options = { image: flags.image, defaultInterception: flags.defaultInterception as Interception };
      let server;
      try {
        server = createWebhookServer({ cert: readPem(flags.tlsCert, '--tls-cert'), key: readPem(flags.tlsKey, '--tls-key') }, options, log, provisioner);
      } catch (err) {
        if (err instanceof InputError) throw err;
        throw new InputError(`--tls-cert/--tls-key: not a usable PEM certificate and key (${(err as Error).message})`);
      }
      reloadTlsOnChange(server, { cert: flags.tlsCert, key: flags.tlsKey }, log);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new ListenError(`webhook: cannot listen on ${flags.host}:${port}: ${err.message}`, { cause: err })));
        server.listen(port, flags.host, resolve);
      });
      const info = server.address();
      if (info && typeof info === 'object') logger.info({ component: 'webhook', address: `${info.address}:${info.port}` }, 'listening');
      // Load the Kubernetes client now, in the background, so the first injection does not wait for it.
      if (provisioner) {
        loadKube().then(
          (kube) => log.info({ server: kube.server }, 'kubernetes client ready: namespaces get their admin credential Secrets'),
          (err: Error) => log.warn({ err: err.message }, 'no Kubernetes client: namespaces will not get their admin credential Secrets'),
        );
      }
      const stop = () => {
        server.close(() => process.exit(0));
        // The API server keeps connections alive; do not wait for it to let go.
        setTimeout(() => process.exit(0), 5000).unref();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
