import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect } from 'node:tls';
import fastJsonPatch from 'fast-json-patch';
import { pino } from 'pino';
import t from 'tap';
import { Agent, request } from 'undici';
import { DEFAULT_IMAGE } from '../../src/kubernetes/builders.js';
import { injectObject, podTemplateOf } from '../../src/kubernetes/inject.js';
import { createWebhookServer, reloadTlsOnChange } from '../../src/kubernetes/webhook.js';
import { sleep } from '../helpers/net.js';
import { FIXTURE_NAMES, reviewFixture, validateObject } from '../helpers/kubernetes.js';
import { runCli, startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/sidecar.js';

const silent = pino({ level: 'silent' });

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI; returns the file paths. */
function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=faultline-webhook.faultline-system.svc`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

interface Answer {
  status: number;
  json: { response: { uid: string; allowed: boolean; patch?: string; patchType?: string; status?: { message: string }; warnings?: string[] }; error?: string };
}

t.test('the webhook patches real AdmissionReviews into valid objects, over TLS', async (t) => {
  const dir = tempDir(t);
  const files = makeCert(dir, 'webhook');
  const server = createWebhookServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) }, { image: DEFAULT_IMAGE }, silent);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(files.cert) } });
  t.teardown(() => dispatcher.close());
  const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  const post = async (path: string, body: string): Promise<Answer> => {
    const res = await request(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher });
    return { status: res.statusCode, json: (await res.body.json()) as Answer['json'] };
  };

  const health = await request(`${base}/healthz`, { dispatcher });
  t.equal(health.statusCode, 200, '/healthz answers');
  await health.body.dump();

  for (const name of FIXTURE_NAMES) {
    const review = reviewFixture(name);
    const { status, json } = await post('/inject', JSON.stringify(review));
    t.equal(status, 200, `${name}: 200`);
    t.equal(json.response.uid, review.request.uid, `${name}: the uid is echoed`);
    t.equal(json.response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(json.response.patch ?? '', 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const patched = fastJsonPatch.applyPatch(structuredClone(review.request.object), patch, true).newDocument;
    const template = podTemplateOf(patched) as unknown as { spec: { containers: { name: string; securityContext: { runAsUser: number } }[]; initContainers: { args: string[]; securityContext: { capabilities: { add: string[] } } }[] } };
    t.same(template.spec.containers.map((c) => c.name), ['app', 'faultline'], `${name}: the sidecar is added`);
    t.equal(template.spec.containers[1]?.securityContext.runAsUser, 1337);
    t.same(template.spec.initContainers[0]?.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
    t.match(template.spec.initContainers[0]?.args.join(' '), '--exclude-outbound-ports 5432 --exclude-outbound-cidrs 10.96.0.0/12');
    t.doesNotThrow(() => validateObject(patched), `${name}: the patched ${patched.kind} validates against the Kubernetes schema`);
    const again = injectObject(patched, { image: DEFAULT_IMAGE });
    t.notOk(again.injected, `${name}: injecting twice changes nothing`);
    t.same(again.object, patched);
    const second = await post('/inject', JSON.stringify({ ...review, request: { ...review.request, object: patched } }));
    t.same(second.json.response, { uid: review.request.uid, allowed: true }, `${name}: the webhook, asked again, answers with no patch`);
  }

  const opted = reviewFixture('pod');
  delete opted.request.object.metadata?.annotations?.['faultline.dev/inject'];
  t.equal((await post('/inject', JSON.stringify(opted))).json.response.patch, undefined, 'a pod that does not ask is left alone');
  t.ok((await post('/inject/namespace', JSON.stringify(opted))).json.response.patch, 'unless its namespace is labelled');

  for (const [annotation, value] of [
    ['faultline.dev/exclude-outbound-ports', '80; rm -rf /'],
    ['faultline.dev/exclude-outbound-cidrs', '0/0 -j ACCEPT'],
    ['faultline.dev/include-inbound-ports', '99999'],
    ['faultline.dev/include-outbound-cidrs', '10.0.0.0/8`reboot`'],
    ['faultline.dev/policy', '../../etc/passwd'],
    ['faultline.dev/interception', 'sometimes'],
  ] as const) {
    const hostile = reviewFixture('pod');
    (hostile.request.object.metadata as { annotations: Record<string, string> }).annotations[annotation] = value;
    const { json } = await post('/inject', JSON.stringify(hostile));
    t.equal(json.response.allowed, false, `${annotation}: ${value} is refused`);
    t.equal(json.response.patch, undefined, 'with no patch');
    t.match(json.response.status?.message, `annotation ${annotation}: ${JSON.stringify(value)}`, 'the message names the annotation and its value');
  }

  const garbage = await post('/inject', '{"not": "a review"');
  t.equal(garbage.status, 400, 'malformed JSON: 400');
  const wrong = await post('/inject', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }));
  t.equal(wrong.status, 400, 'not an AdmissionReview: 400');
  t.match(wrong.json.error, /^not an AdmissionReview v1/);
  const empty = await post('/inject', '');
  t.equal(empty.status, 400, 'an empty body: 400');
  const huge = await request(`${base}/inject`, { method: 'POST', body: Buffer.alloc(5 * 1024 * 1024, 0x20), dispatcher });
  t.equal(huge.statusCode, 413, 'a body over 4 MiB: 413');
  await huge.body.dump();
  const chunked = await request(`${base}/inject`, {
    method: 'POST',
    body: Readable.from((function* () {
      for (let i = 0; i < 5; i++) yield Buffer.alloc(1024 * 1024, 0x20);
    })()),
    dispatcher,
  }).catch((err: Error) => err);
  t.ok(chunked instanceof Error || chunked.statusCode === 413, 'a chunked body over 4 MiB: 413 (or the connection closed on it)');
  if (!(chunked instanceof Error)) await chunked.body.dump();
  const getInject = await request(`${base}/inject`, { dispatcher });
  t.equal(getInject.statusCode, 405, 'GET /inject: 405');
  await getInject.body.dump();
  const elsewhere = await request(`${base}/mutate`, { method: 'POST', body: '{}', dispatcher });
  t.equal(elsewhere.statusCode, 404, 'another path: 404');
  await elsewhere.body.dump();
  const plainHttp = await request(`http://127.0.0.1:${(server.address() as { port: number }).port}/healthz`).catch((err: Error) => err);
  t.ok(plainHttp instanceof Error, 'plain HTTP is not answered');
  t.equal((await request(`${base}/healthz`, { dispatcher })).statusCode, 200, 'and the webhook lives on');
});

/** The SHA-256 fingerprint of the certificate a fresh TLS connection is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

const fingerprintOf = (file: string) => execFileSync('openssl', ['x509', '-in', file, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).split('=')[1]?.trim();

t.test('a renewed certificate is served without a restart; a mismatched pair is not', async (t) => {
  const dir = tempDir(t);
  const live = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  const first = makeCert(dir, 'first');
  const second = makeCert(dir, 'second');
  const install = (pair: { cert: string; key: string }) => {
    writeFileSync(live.cert, readFileSync(pair.cert));
    writeFileSync(live.key, readFileSync(pair.key));
  };
  install(first);
  const server = createWebhookServer({ cert: readFileSync(live.cert), key: readFileSync(live.key) }, { image: DEFAULT_IMAGE }, silent);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void server.close());
  const stop = reloadTlsOnChange(server, live, silent, 20);
  t.teardown(stop);
  const port = (server.address() as { port: number }).port;
  t.equal(await servedFingerprint(port), fingerprintOf(first.cert));

  writeFileSync(live.cert, readFileSync(second.cert)); // the key still the old one: a pair caught mid-update
  await sleep(100);
  t.equal(await servedFingerprint(port), fingerprintOf(first.cert), 'a certificate without its key is not served');
  install(second);
  let served = '';
  for (let i = 0; i < 50 && served !== fingerprintOf(second.cert); i++) {
    await sleep(20);
    served = await servedFingerprint(port);
  }
  t.equal(served, fingerprintOf(second.cert), 'the renewed pair is served');
});

t.test('faultline webhook: starts from files, logs its address, refuses bad files clearly', async (t) => {
  const dir = tempDir(t);
  const files = makeCert(dir, 'cli');
  const daemon = startDaemon(t, ['webhook', '--tls-cert', files.cert, '--tls-key', files.key, '--port', '0', '--host', '127.0.0.1']);
  const line = await daemon.waitForLine((l) => l.msg === 'listening' && l.component === 'webhook');
  const port = Number(String(line.address).split(':').pop());
  const dispatcher = new Agent({ connect: { ca: readFileSync(files.cert) } });
  t.teardown(() => dispatcher.close());
  const health = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher });
  t.equal(health.statusCode, 200);
  await health.body.dump();
  daemon.child.kill('SIGTERM');
  t.equal(await daemon.exited, 0, 'SIGTERM: exits 0');

  const missing = await runCli(['webhook', '--tls-cert', join(dir, 'nope.crt'), '--tls-key', files.key, '--port', '0']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /--tls-cert: cannot read .*nope\.crt \(ENOENT\)/);
  const notPem = await runCli(['webhook', '--tls-cert', files.key, '--tls-key', files.key, '--port', '0']);
  t.equal(notPem.code, 1);
  t.match(notPem.stderr, /not a usable PEM certificate and key/);
  const badPort = await runCli(['webhook', '--tls-cert', files.cert, '--tls-key', files.key, '--port', 'https']);
  t.match(badPort.stderr, /--port: "https" is not a port/);
});
