import { createServer, type Server } from 'node:https';
import type { Logger } from 'pino';
import { BadReviewError, review } from './admission.js';
import type { InjectOptions } from './builders.js';

const MAX_BODY = 4 * 1024 * 1024;

/**
 * The mutating admission webhook over TLS: `POST /inject` (pods that ask for it),
 * `POST /inject/namespace` (every pod of a labelled namespace, unless it opts out), `GET /healthz`.
 * A malformed request gets a 400 and never takes the server down.
 */
export function createWebhookServer(tls: { cert: string | Buffer; key: string | Buffer }, options: InjectOptions, log: Logger): Server {
  return createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/healthz') return reply(200, { status: 'ok' });
    if (req.method !== 'POST' || (path !== '/inject' && path !== '/inject/namespace')) return reply(404, { error: 'not found: POST /inject, GET /healthz' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reply(413, { error: 'request body over 4 MiB' });
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      try {
        const answer = review(JSON.parse(Buffer.concat(chunks).toString('utf8')), options, path === '/inject/namespace');
        log.info({ uid: answer.response.uid, allowed: answer.response.allowed, patched: answer.response.patch !== undefined }, 'admission review');
        reply(200, answer);
      } catch (err) {
        const bad = err instanceof SyntaxError || err instanceof BadReviewError;
        log.warn({ cause: (err as Error).message }, 'bad admission request');
        reply(bad ? 400 : 500, { error: (err as Error).message });
      }
    });
    req.on('error', () => res.destroy());
  });
}
