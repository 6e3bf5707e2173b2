import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { Logger } from 'pino';
import { AdmissionReviewError } from '../errors.js';
import { review } from './admission.js';
import type { InjectOptions } from './builders.js';
import type { CredentialProvisioner } from './credentials.js';

/** How long an admission waits for the namespace's credential Secrets before answering anyway. */
const PROVISION_WAIT_MS = 2000;

const MAX_BODY = 4 * 1024 * 1024;

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * The mutating admission webhook over TLS: `POST /inject` (pods that ask for it),
 * `POST /inject/namespace` (every pod of a labelled namespace, unless it opts out), `GET /healthz`.
 * A malformed request gets a 400 and never takes the server down. With a `provisioner`, a pod it
 * injects (not in a dry run) makes sure its namespace has the admin credential Secrets first,
 * waiting at most PROVISION_WAIT_MS (the Secrets are optional to the pod either way).
 */
export function createWebhookServer(tls: TlsMaterial, options: InjectOptions, log: Logger, provisioner?: CredentialProvisioner): Server {
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (path === '/healthz') return req.method === 'GET' || req.method === 'HEAD' ? reply(200, { status: 'ok' }) : reply(405, { error: 'GET /healthz' }, { allow: 'GET, HEAD' });
    if (path !== '/inject' && path !== '/inject/namespace') return reply(404, { error: 'not found: POST /inject, GET /healthz' });
    if (req.method !== 'POST') return reply(405, { error: `POST ${path}` }, { allow: 'POST' });
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) return reply(413, { error: 'request body over 4 MiB' }, { connection: 'close' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      // Chunked and too big: answer now; `connection: close` ends the socket after the answer.
      else if (!res.headersSent) reply(413, { error: 'request body over 4 MiB' }, { connection: 'close' });
    });
    req.on('end', async () => {
      if (res.headersSent) return;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { namespace?: string; dryRun?: boolean; object?: { metadata?: { namespace?: string }; spec?: { serviceAccountName?: unknown } } } };
        const answer = review(body, options, path === '/inject/namespace');
        const { uid, allowed, patch, status } = answer.response;
        const namespace = body.request?.namespace ?? body.request?.object?.metadata?.namespace;
        const dryRun = body.request?.dryRun === true;
        log.info({ uid, allowed, patched: patch !== undefined, namespace, dryRun, ...(status ? { reason: status.message } : {}) }, 'admission review');
        if (provisioner && patch !== undefined && !dryRun && namespace) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([provisioner.ensure(namespace, serviceAccountOf(body.request?.object?.spec?.serviceAccountName)), new Promise((resolve) => (timer = setTimeout(resolve, PROVISION_WAIT_MS)))]);
          clearTimeout(timer);
        }
        reply(200, answer);
      } catch (err) {
        const bad = err instanceof SyntaxError || err instanceof AdmissionReviewError;
        log.warn({ err: (err as Error).message }, 'bad admission request');
        reply(bad ? 400 : 500, { error: bad ? (err as Error).message : 'internal error' });
      }
    });
    req.on('error', () => res.destroy());
  });
  // A client that goes away mid-handshake or sends garbage must not take anything with it.
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
  return server;
}

/**
 * Re-reads the certificate and key every `intervalMs` and serves the new pair when it changed:
 * cert-manager renews the Secret in place, and a webhook that kept the old certificate would be
 * refused by the API server, which with `failurePolicy: Ignore` means pods silently start
 * without the sidecar. Returns a function that stops watching.
 */
export function reloadTlsOnChange(server: Server, files: { cert: string; key: string }, log: Logger, intervalMs = 30_000): () => void {
  const read = () => ({ cert: readFileSync(files.cert), key: readFileSync(files.key) });
  let current = read();
  const timer = setInterval(() => {
    try {
      const next = read();
      if (next.cert.equals(current.cert) && next.key.equals(current.key)) return;
      // Throws (and keeps the old pair) when the pair does not match, e.g. caught mid-update.
      server.setSecureContext(next);
      current = next;
      log.info({ cert: files.cert }, 'TLS certificate reloaded');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'TLS certificate not reloaded; keeping the current one');
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The pod's ServiceAccount ("default" when it names none, as the API server defaults it). */
function serviceAccountOf(value: unknown): string {
  return typeof value === 'string' && /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value) ? value : 'default';
}
