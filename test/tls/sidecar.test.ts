import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { createAdminServer } from '../../src/admin/server.js';
import { memoryLog, serve, TOKEN } from '../helpers/admin.js';
import { cli } from '../helpers/cli.js';
import { waitFor } from '../helpers/net.js';
import { startSidecar, tempDir } from '../helpers/sidecar.js';
import { httpsUpstream, makeCa, tlsWorld } from '../helpers/tls.js';

const terminate = (name: string) => `    - name: ${name}
      match: {listener: up, sni: api.example.com, protocol: http, http: {paths: ["/fail"]}}
      tls: terminate
      faults: [{type: http_abort, status: 503}]`;

/** The lines of base64 inside PEM private keys: what must never show up anywhere. */
const keyLines = (...files: string[]) => files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')));

t.test('a policy that needs the CA while it cannot be used is refused at its tls line; the last good policy stays; keys are never logged or served', async (t) => {
  const world = tlsWorld(t);
  const dir = tempDir(t);
  const caCert = join(dir, 'tls.crt');
  const caKey = join(dir, 'tls.key');
  copyFileSync(world.appCa.certFile, caCert);
  copyFileSync(world.appCa.keyFile, caKey);
  const { port: up } = await httpsUpstream(t, world.credentials);
  const { log, lines } = memoryLog();
  const { sidecar, port, write } = await startSidecar(t, up, terminate('first'), { tls: { caCert, caKey, upstreamCa: world.upstreamCa.certFile }, log });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN);
  const admin = await serve(t, createAdminServer({ sidecar, tokenFile, log }));

  const dispatcher = new Agent({ connect: { ca: world.appCa.cert, servername: 'api.example.com' } });
  t.teardown(() => dispatcher.close());
  const get = async (path: string) => {
    const r = await request(`https://127.0.0.1:${port}${path}`, { dispatcher });
    await r.body.text();
    return r.statusCode;
  };
  t.equal(await get('/fail'), 503);

  // The key file is replaced by another CA's key: the CA can no longer be used.
  const other = makeCa(t, 'other CA');
  copyFileSync(other.keyFile, caKey);
  write(terminate('second'));
  t.ok(await waitFor(() => sidecar.lastError !== undefined), 'the reload failed');
  t.match(sidecar.lastError?.message, /policy\.yaml:10:12: spec\.rules\[0\]\.tls: rule second needs the TLS CA, which cannot be used: .*the CA key does not belong to the CA certificate/);
  t.equal(sidecar.policy.rules[0]?.name, 'first', 'the last good policy stays');
  t.equal(await get('/fail'), 503, 'and terminates as before, with the CA loaded before');
  write('    - {name: plain, match: {listener: up}, faults: [{type: latency, latency: 1ms}]}');
  t.ok(await waitFor(() => sidecar.policy.rules[0]?.name === 'plain'), 'a policy that needs no CA applies, the broken CA notwithstanding');

  const views = await Promise.all(['/policy', '/status', '/connections', '/faults'].map(async (path) => (await request(`${admin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.text()));
  t.match(JSON.parse(views[0] as string).tls, { ca: { subject: 'CN=app trust CA' }, caError: /does not belong/, upstreamTrust: world.upstreamCa.certFile });
  const secrets = keyLines(world.appCa.keyFile, other.keyFile);
  const everything = [...views, ...lines.map((l) => JSON.stringify(l))].join('\n');
  t.ok(secrets.length > 2 && secrets.every((line) => !everything.includes(line)), 'no line of either key in the admin views or the logs');
  t.notMatch(everything, /PRIVATE KEY/);
});

t.test('the CA files are polled: a rotated CA signs the leaves of new connections without a policy change', async (t) => {
  const world = tlsWorld(t);
  const next = makeCa(t, 'next CA');
  const dir = tempDir(t);
  const caCert = join(dir, 'tls.crt');
  const caKey = join(dir, 'tls.key');
  copyFileSync(world.appCa.certFile, caCert);
  copyFileSync(world.appCa.keyFile, caKey);
  const { port: up } = await httpsUpstream(t, world.credentials);
  const { sidecar, port } = await startSidecar(t, up, terminate('r'), { tls: { caCert, caKey, upstreamCa: world.upstreamCa.certFile }, tlsPollMs: 50 });
  const status = async (ca: string) => {
    const dispatcher = new Agent({ connect: { ca, servername: 'api.example.com' } });
    try {
      const r = await request(`https://127.0.0.1:${port}/fail`, { dispatcher });
      await r.body.text();
      return String(r.statusCode);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? 'error';
    } finally {
      await dispatcher.destroy();
    }
  };
  t.equal(await status(world.appCa.cert), '503');
  // What rotation looks like from the app's side: it trusts both CAs while the Secret changes.
  const both = world.appCa.cert + next.cert;
  copyFileSync(next.certFile, caCert);
  copyFileSync(next.keyFile, caKey);
  t.ok(await waitFor(() => sidecar.tls.view().ca?.subject === 'CN=next CA'), 'the new CA was read');
  t.equal(await status(next.cert), '503', 'new connections get leaves of the new CA');
  t.equal(await status(both), '503');
  t.equal(await status(world.appCa.cert), 'SELF_SIGNED_CERT_IN_CHAIN', 'a client trusting only the old CA no longer does (the chain sent ends with the new CA)');
});

t.test('--tls-ca-cert and --tls-ca-key go together', async (t) => {
  const result = await cli(['sidecar', '--policy', '/nonexistent.yaml', '--tls-ca-cert', '/x.crt']);
  t.ok(result.code === 1 || result.code === 2, `exit ${result.code}`);
  t.match(result.stderr, /--tls-ca-cert and --tls-ca-key go together/);
});
