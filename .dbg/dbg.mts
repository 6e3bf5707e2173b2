import { connect, createServer } from 'node:http2';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { Metrics } from '/work/wt/l7perf/src/metrics.js';
import { Sidecar } from '/work/wt/l7perf/src/sidecar.js';
import { policyText } from '/work/wt/l7perf/test/helpers/sidecar.js';

const server = createServer();
server.on('stream', (s, h) => { s.respond({ ':status': 200, 'x-upstream': 'yes' }); s.end(`${h[':method']} ${h[':path']}`); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const up = (server.address() as any).port;
const dir = mkdtempSync(join(tmpdir(), 'dbg-'));
const file = join(dir, 'p.yaml');
writeFileSync(file, policyText({ listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${up}"}`], rules: process.env.RULES ?? `    - name: h2-fail
      match: {listener: up, http: {paths: ["/fail"]}}
      faults: [{type: http_abort, status: 503}]` }));
const sidecar = new Sidecar({ policyFile: file, pollIntervalMs: 50, log: pino({ level: 'debug' }, pino.destination(2)), metrics: new Metrics({ processMetrics: false }) });
await sidecar.start();
const port = sidecar.address('up').port;
const session = connect(`http://127.0.0.1:${port}`);
session.on('error', (e) => console.log('session error', e));
const get = (path: string) => new Promise((resolve) => {
  const req = session.request({ ':path': path });
  let status = 0; let body = '';
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (c) => (body += c));
  req.on('end', () => resolve([status, body]));
  req.on('error', (e) => resolve(['error', e.message]));
  req.end();
});
console.log(await Promise.all((process.env.PATHS ?? '/a,/fail,/other').split(',').map(get)));
session.close(); await sidecar.drain(100); server.close(); process.exit(0);
