import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parsePorts } from '../../interception/values.js';
import { DEFAULT_IMAGE } from '../../kubernetes/builders.js';
import { createWebhookServer } from '../../kubernetes/webhook.js';
import { logger } from '../../log.js';

export function register(program: Command): void {
  program
    .command('webhook')
    .description('the mutating admission webhook (AdmissionReview v1 on POST /inject, GET /healthz)')
    .requiredOption('--tls-cert <file>', 'TLS certificate (PEM)')
    .requiredOption('--tls-key <file>', 'TLS private key (PEM)')
    .option('--port <port>', 'HTTPS port', '8443')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--image <image>', 'the faultline image injected into pods', DEFAULT_IMAGE)
    .action(async (flags: { tlsCert: string; tlsKey: string; port: string; host: string; image: string }) => {
      const [port] = flags.port === '0' ? [0] : parsePorts(flags.port, '--port');
      const server = createWebhookServer({ cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) }, { image: flags.image }, logger.child({ component: 'webhook' }));
      await new Promise<void>((resolve) => server.listen(port, flags.host, resolve));
      const info = server.address();
      if (info && typeof info === 'object') logger.info({ component: 'webhook', address: `${info.address}:${info.port}` }, 'listening');
      const stop = () => server.close(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
