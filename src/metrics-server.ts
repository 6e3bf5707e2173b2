import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';

/**
 * The metrics and health port (SPEC default 0.0.0.0:15020): `/metrics` (Prometheus text),
 * `/healthz` (the process lives), `/readyz` (policy loaded, every listener bound), and the JSON
 * documents of `documents` (`/faultpolicies`: which FaultPolicy generation this pod applied,
 * what the controller reads for the objects' status).
 */
export function createMetricsServer(metrics: Metrics, isReady: () => boolean, documents: Record<string, () => unknown> = {}): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (Object.hasOwn(documents, path)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify((documents[path] as () => unknown)()));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
}
