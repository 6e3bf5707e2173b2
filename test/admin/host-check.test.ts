import { connect } from 'node:net';
import { hostname } from 'node:os';
import t from 'tap';
import { request } from 'undici';
import { HostCheck } from '../../src/admin/host-check.js';
import { createAdminServer } from '../../src/admin/server.js';
import { serve, startAdmin, startToxiproxy, TOKEN } from '../helpers/admin.js';
import { echoServer } from '../helpers/net.js';

t.test('HostCheck: IPs, localhost, the pod name and allowed names pass; other names do not', async (t) => {
  const check = new HostCheck(['faultline-admin.example.com']);
  for (const host of ['127.0.0.1:15000', '10.244.1.7:15000', '[::1]:15000', '[fd00::7]', 'localhost', 'LOCALHOST:15000', 'app.localhost:1', `${hostname()}:15000`, 'faultline-admin.example.com.', undefined]) {
    t.ok(check.allows(host), `${host} passes`);
  }
  for (const host of ['evil.example:15000', 'evil.example', '127.0.0.1.evil.example', 'localhost.evil.example', '', 'faultline-admin.example.com.evil']) {
    t.notOk(check.allows(host), `${host} is refused`);
  }
});

t.test('the admin API refuses a rebound name before anything else, and answers its own names', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  const get = (host: string | undefined, path = '/policy') => request(`${h.admin}${path}`, { headers: host === undefined ? {} : { host } }).then(async (res) => ({ status: res.statusCode, json: (await res.body.json()) as { error?: string } }));
  t.match(await get('evil.example:15000'), { status: 403, json: { error: 'host_not_allowed' } }, 'GET /policy through a rebound name: 403');
  t.match(await get('evil.example:15000', '/connections'), { status: 403 });
  const rebound = await request(`${h.admin}/killswitch`, { method: 'POST', headers: { host: 'evil.example', authorization: `Bearer ${TOKEN}` } });
  await rebound.body.dump();
  t.equal(rebound.statusCode, 403, 'even with a token');
  t.equal(h.sidecar.engine.killSwitch, false);
  t.equal((await get(new URL(h.admin).host)).status, 200, 'by IP (the pod proxy sends the pod IP)');
  t.equal((await get('localhost:15000')).status, 200, 'localhost (kubectl port-forward)');
  t.equal((await get(`${hostname()}:15000`)).status, 200, "the pod's name");
  const allowed = await serve(t, createAdminServer({ sidecar: h.sidecar, hosts: new HostCheck(['ops.example']), log: (await import('pino')).pino({ level: 'silent' }) }));
  t.equal((await request(`${allowed}/policy`, { headers: { host: 'ops.example' } })).statusCode, 200, 'a configured name');
});

t.test('a token in a query string never reaches an audit line', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  await h.call('POST', `/killswitch?token=${TOKEN}&access_token=${TOKEN}`, { token: false });
  await h.call('POST', `/killswitch?token=${TOKEN}`);
  const audits = h.lines.filter((l) => l.audit === true);
  t.equal(audits.length, 2, 'both calls audited');
  t.notMatch(JSON.stringify(h.lines), new RegExp(TOKEN), 'the token is in no line');
});

t.test('the Toxiproxy API: Host checked too; ":N" listens on loopback; no wildcard proxy to a loopback upstream', async (t) => {
  const { port: echo } = await echoServer(t);
  const { api } = await startToxiproxy(t);
  const call = async (method: string, path: string, body?: unknown, host?: string) => {
    const res = await request(`${api}${path}`, { method: method as 'GET', headers: host ? { host } : {}, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };
  t.equal((await call('GET', '/proxies', undefined, 'evil.example:8474')).status, 403);
  const short = await call('POST', '/proxies', { name: 'short', listen: ':0', upstream: `127.0.0.1:${echo}` });
  t.match(short, { status: 201, json: { listen: /^127\.0\.0\.1:\d+$/ } }, '":0" binds 127.0.0.1');
  for (const listen of ['0.0.0.0:0', '[::]:0']) {
    const relay = await call('POST', '/proxies', { name: `relay-${listen.length}`, listen, upstream: '127.0.0.1:15000' });
    t.match(relay, { status: 400, json: { error: /reachable from outside the pod and upstream "127\.0\.0\.1:15000" is loopback/ } }, `${listen} → the loopback admin: refused`);
  }
});

t.test('a request with no Host header (HTTP/1.0) is answered', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo);
  const socket = connect(Number(new URL(h.admin).port), '127.0.0.1');
  socket.end('GET /policy HTTP/1.0\r\n\r\n');
  let text = '';
  for await (const chunk of socket) text += chunk;
  t.match(text, /^HTTP\/1\.1 200/);
});
