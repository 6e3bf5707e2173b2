import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t from 'tap';
import { Pool } from 'undici';
import { startAdmin } from '../helpers/admin.js';
import { httpUpstream } from '../helpers/http.js';
import { mirrorCounts, waitForCounts } from '../helpers/mirror.js';

/**
 * Two real origins that differ on known paths, the same answers otherwise. The primary's
 * answer to each request is remembered by its x-req header, so that what the client got can
 * be checked byte for byte.
 */
function origin(shadow: boolean, sent: Map<string, Buffer> | undefined, seen: string[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push(`${req.method} ${path} ${Buffer.concat(chunks).toString()}`);
      let status = 200;
      let body: string;
      res.setHeader('x-version', shadow && path === '/header' ? '2' : '1');
      res.setHeader('x-request-id', randomUUID());
      if (path === '/status' && shadow) status = 503;
      if (path === '/text') body = shadow ? 'plain text, changed' : 'plain text, original';
      else body = JSON.stringify({ path, a: shadow && path === '/field' ? 2 : 1, list: [1, 2, { n: 1.0 }], ts: Date.now() + Math.random() });
      const bytes = Buffer.from(body);
      sent?.set(String(req.headers['x-req']), bytes);
      res.writeHead(status, { 'content-type': path === '/text' ? 'text/plain' : 'application/json', 'content-length': bytes.length });
      res.end(bytes);
    });
  };
}

t.test('2,000 mirrored requests: every counter exact, the client gets the primary bytes, ignore paths respected', async (t) => {
  const sent = new Map<string, Buffer>();
  const primarySeen: string[] = [];
  const shadowSeen: string[] = [];
  const { port: primary } = await httpUpstream(t, origin(false, sent, primarySeen));
  const { port: shadow } = await httpUpstream(t, origin(true, undefined, shadowSeen));
  const harness = await startAdmin(t, primary, `    - name: dr
      match: {listener: up, http: {paths: ["/same", "/status", "/header", "/field", "/text"]}}
      faults:
        - type: mirror
          upstream: "127.0.0.1:${shadow}"
          concurrency: 256
          compare: {headers: [x-version], body: json, ignore: ["$.ts"]}
    - name: dr-writes
      match: {listener: up, http: {paths: ["/write"]}}
      faults: [{type: mirror, upstream: "http://127.0.0.1:${shadow}", methods: [POST]}]`);
  const paths = ['/same', '/status', '/header', '/field', '/text'];
  const pool = new Pool(`http://127.0.0.1:${harness.port}`, { connections: 8 });
  t.teardown(() => pool.close());
  let next = 0;
  let mismatched = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < 2000; i = next++) {
        const id = String(i);
        const res = await pool.request({ path: `${paths[i % paths.length]}?i=${i}`, method: 'GET', headers: { 'x-req': id } });
        const got = Buffer.from(await res.body.arrayBuffer());
        if (!got.equals(sent.get(id) as Buffer) || res.statusCode !== 200) mismatched++;
      }
    }),
  );
  t.equal(mismatched, 0, 'each of the 2,000 bodies is byte-identical to what the primary sent, with its status');
  const counts = await waitForCounts(harness.sidecar, 'dr', 2000);
  t.same(counts, { match: 400, drift: 1600, shadow_error: 0, skipped: 0 }, 'exact counters: /same matches (its ts ignored); status, header, JSON field and body drift');
  t.equal(shadowSeen.filter((s) => s.startsWith('GET')).length, 2000, 'the shadow got every request once');

  const view = await harness.call('GET', '/mirror?rule=dr&limit=100');
  t.equal(view.status, 200);
  const rule = view.json.rules.find((r: { rule: string }) => r.rule === 'dr');
  t.same(rule.counts, counts, 'GET /mirror has the same counters');
  t.equal(rule.driftRatio, 0.8, 'the drift ratio over the last 100 compared requests');
  t.equal(view.json.drifts.length, 100, 'the drift log keeps the last 100');
  const byPath = (p: string) => view.json.drifts.find((d: { path: string }) => d.path.startsWith(p));
  t.same(byPath('/status').status, { primary: 200, shadow: 503 });
  t.match(byPath('/status').differences[0], { kind: 'status', where: 'status', primary: '200', shadow: '503' });
  t.match(byPath('/header').differences, [{ kind: 'header', where: 'x-version', primary: '1', shadow: '2' }]);
  t.match(byPath('/field').differences, [{ kind: 'json', where: '$.a', primary: '1', shadow: '2' }], 'the JSON path and both values; $.ts is ignored');
  t.match(byPath('/text').differences, [{ kind: 'body', where: 'body' }], 'a body that is not JSON is compared exactly');
  t.notOk(view.json.drifts.some((d: { path: string }) => d.path.startsWith('/same')), 'no drift on /same');

  const metrics = await harness.sidecar.metrics.registry.getSingleMetricAsString('faultline_mirror_requests_total');
  t.match(metrics, /faultline_mirror_requests_total\{rule="dr",result="drift"\} 1600/);
  t.match(await harness.sidecar.metrics.registry.getSingleMetricAsString('faultline_mirror_drift_ratio'), /faultline_mirror_drift_ratio\{rule="dr"\} 0\.8/);

  // POST is not mirrored unless listed.
  for (let i = 0; i < 20; i++) await (await pool.request({ path: '/same', method: 'POST', body: `post ${i}`, headers: { 'x-req': `p${i}` } })).body.text();
  for (let i = 0; i < 5; i++) await (await pool.request({ path: '/write', method: 'POST', body: `write ${i}`, headers: { 'x-req': `w${i}` } })).body.text();
  await waitForCounts(harness.sidecar, 'dr-writes', 5);
  t.same((await mirrorCounts(harness.sidecar)).get('dr'), counts, 'POSTs to a rule with the default methods are not mirrored');
  t.equal(shadowSeen.filter((s) => s.startsWith('POST /same')).length, 0, 'the shadow never saw them');
  t.same(shadowSeen.filter((s) => s.startsWith('POST /write')).sort(), Array.from({ length: 5 }, (_, i) => `POST /write write ${i}`).sort(), 'a rule that lists POST copies them, bodies included');
  t.same(primarySeen.filter((s) => s.startsWith('POST /write')).length, 5, 'the primary got each once');
});

t.test('noise learning: a field that differs between two primary answers is ignored; a real drift is still seen', async (t) => {
  const randomField = (shadow: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: Math.random(), nested: { token: randomUUID(), stable: 'yes' }, value: shadow && path === '/drift' ? 'changed' : 'same', items: [{ at: Math.random(), k: 1 }, { at: Math.random(), k: 2 }] }));
  };
  const { port: primary } = await httpUpstream(t, randomField(false));
  const { port: shadow } = await httpUpstream(t, randomField(true));
  const rule = (name: string, noise: string) => `    - name: ${name}
      match: {listener: up, protocol: http}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", concurrency: 256, compare: {body: json, noise: ${noise}}}]`;
  const learned = await startAdmin(t, primary, rule('learned', 'learn'));
  const pool = new Pool(`http://127.0.0.1:${learned.port}`, { connections: 4 });
  t.teardown(() => pool.close());
  const run = async (n: number, path: string) => {
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = next++; i < n; i = next++) await (await pool.request({ path, method: 'GET' })).body.text();
    }));
  };
  await run(200, '/same');
  const counts = await waitForCounts(learned.sidecar, 'learned', 200);
  t.same(counts, { match: 200, drift: 0, shadow_error: 0, skipped: 0 }, 'every request matches: id, nested.token and items[*].at were learned as noise');
  const view = await learned.call('GET', '/mirror');
  const noise = view.json.rules[0].noise;
  t.ok(noise.warm && noise.samples >= 10, `noise learned from ${noise.samples} double requests`);
  t.ok(noise.samples <= 10 + 200 * 0.2, 'a bounded share of requests went to the primary twice');
  t.same([...noise.keys].sort(), ['$.id', '$.items[*].at', '$.nested.token'], 'exactly the random fields');
  await run(50, '/drift');
  const after = await waitForCounts(learned.sidecar, 'learned', 250);
  t.equal(after.drift, 50, 'a field that differs only on the shadow still drifts');

  const plain = await startAdmin(t, primary, rule('unlearned', 'off'));
  for (let i = 0; i < 20; i++) await (await (await import('undici')).request(`http://127.0.0.1:${plain.port}/same`)).body.text();
  t.same(await waitForCounts(plain.sidecar, 'unlearned', 20), { match: 0, drift: 20, shadow_error: 0, skipped: 0 }, 'without noise learning the random fields drift');
});

t.test('a primary answer that does not complete is skipped; a close-delimited one is compared', async (t) => {
  const { createServer } = await import('node:net');
  // A raw HTTP/1.1 primary: /cut promises 100 bytes and closes after 10; /close ends its body by closing; /bad is not HTTP.
  const raw = createServer((socket) => {
    socket.once('data', (chunk) => {
      const path = chunk.toString().split(' ')[1];
      if (path === '/cut') socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789');
      else if (path === '/close') socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end');
      else socket.end('SSH-2.0-not http\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => raw.close(() => resolve())));
  const { port: shadow } = await httpUpstream(t, (req, res) => res.end(req.url === '/close' ? 'until the end' : '0123456789'));
  const harness = await startAdmin(t, (raw.address() as { port: number }).port, `    - name: odd
      match: {listener: up, protocol: http}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}", timeout: 1s}]`);
  const { request } = await import('undici');
  for (const path of ['/close', '/cut', '/bad']) {
    try {
      await (await request(`http://127.0.0.1:${harness.port}${path}`)).body.text();
    } catch {
      // the cut body fails on the client, as it would without faultline
    }
  }
  t.same(await waitForCounts(harness.sidecar, 'odd', 3), { match: 1, drift: 0, shadow_error: 0, skipped: 2 }, 'close-delimited: match; cut and malformed: skipped');
});
