import t from 'tap';
import { Toxiproxy, type ICreateToxicBody, type Latency } from 'toxiproxy-node-client';
import { request } from 'undici';
import { collect, dial, echoServer, exchange } from '../helpers/net.js';
import { startToxiproxy } from '../helpers/admin.js';

/** A raw call, for status codes and bodies the client library hides. */
async function raw(base: string, method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { method: method as 'GET', body, headers: { 'user-agent': 'toxiproxy-cli', ...headers } });
  const text = await res.body.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json, type: String(res.headers['content-type']) };
}

t.test('proxies: create, list, get, update, delete, with Toxiproxy status codes and shapes', async (t) => {
  const { port: echo } = await echoServer(t);
  const { api, sidecar, lines } = await startToxiproxy(t);
  const toxiproxy = new Toxiproxy(api);

  const version = await toxiproxy.getVersion();
  t.match(JSON.parse(version), { version: /^2\.\d+\.\d+/ }, '/version answers like Toxiproxy');

  const created = await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'redis', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }));
  t.equal(created.status, 201, 'a new proxy is 201');
  t.strictSame(Object.keys(created.json), ['name', 'listen', 'upstream', 'enabled', 'toxics'], 'Toxiproxy\'s proxy shape, in its order');
  t.match(created.json, { name: 'redis', upstream: `127.0.0.1:${echo}`, enabled: true, toxics: [] });
  const listenPort = Number(created.json.listen.split(':')[1]);
  t.ok(listenPort > 0, 'listen with port 0 is answered with the real port');
  t.equal(listenPort, sidecar.address('redis').port);
  t.equal((await exchange(t, listenPort, 'ping')).data.toString(), 'ping', 'the proxy proxies');

  const proxy = await toxiproxy.createProxy({ name: 'pg', listen: 'localhost:0', upstream: `localhost:${echo}` });
  t.match(proxy.listen, /^127\.0\.0\.1:\d+$/, 'localhost listens on 127.0.0.1, as Go resolves it');
  t.same(Object.keys(await toxiproxy.getAll()), ['pg', 'redis'], 'the client lists every proxy');
  t.equal((await toxiproxy.get('redis')).listen, created.json.listen);

  t.same(await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'redis', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` })).then((r) => [r.status, r.json]), [409, { error: 'proxy already exists', status: 409 }]);
  t.same((await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'x', listen: '127.0.0.1:0' }))).json, { error: 'missing required field: upstream', status: 400 });
  t.same((await raw(api, 'POST', '/proxies', JSON.stringify({ listen: '127.0.0.1:0', upstream: 'a:1' }))).json, { error: 'missing required field: name', status: 400 });
  t.equal((await raw(api, 'POST', '/proxies', '{"name": "x",')).status, 400, 'malformed JSON is a 400');
  t.match((await raw(api, 'POST', '/proxies', '')).json, { error: 'bad request body: EOF', status: 400 });
  t.match((await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'x', listen: 'nope', upstream: 'a:1' }))).json, { status: 400, error: /listen address "nope" is invalid/ });
  t.match((await raw(api, 'POST', '/proxies', JSON.stringify({ name: 7 }))).json, { status: 400, error: /bad request body/ });
  t.same((await raw(api, 'GET', '/proxies/nope')).json, { error: 'proxy not found', status: 404 });
  const taken = await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'clash', listen: created.json.listen, upstream: `127.0.0.1:${echo}` }));
  t.equal(taken.status, 500, 'a port in use is a 500, as in Toxiproxy');
  t.equal((await raw(api, 'GET', '/proxies/clash')).status, 404, 'and the proxy is not kept');
  await t.rejects(toxiproxy.get('nope'), { message: /404/ }, 'the client sees the 404');

  // Disable: live connections closed, new ones refused; enable: the same port again.
  const live = await dial(t, listenPort);
  const ended = collect(live);
  const disabled = await (await toxiproxy.get('redis')).update({ enabled: false, listen: created.json.listen, upstream: `127.0.0.1:${echo}` });
  t.equal(disabled.enabled, false);
  t.ok(['end', 'close', 'ECONNRESET'].includes((await ended).ending), 'a live connection is closed');
  t.equal((await exchange(t, listenPort, 'x')).ending, 'ECONNREFUSED', 'a new connection is refused');
  const enabled = await raw(api, 'PATCH', '/proxies/redis', JSON.stringify({ enabled: true }));
  t.match(enabled, { status: 200, json: { enabled: true, listen: created.json.listen } }, 'PATCH works too, and the port is kept');
  t.equal((await exchange(t, listenPort, 'again')).data.toString(), 'again');

  const moved = await raw(api, 'POST', '/proxies/pg', JSON.stringify({ listen: '127.0.0.1:0' }));
  t.not(moved.json.listen, proxy.listen, 'a new listen address rebinds');
  t.equal((await exchange(t, Number(moved.json.listen.split(':')[1]), 'moved')).data.toString(), 'moved');
  t.match((await raw(api, 'POST', '/proxies/pg', JSON.stringify({ enabled: 'yes' }))).json, { status: 400 });

  const odd = await raw(api, 'POST', '/proxies', JSON.stringify({ name: 'my db (primary)', listen: ':0', upstream: `:${echo}` }));
  t.match(odd, { status: 201, json: { name: 'my db (primary)', listen: /^127\.0\.0\.1:\d+$/ } }, 'any proxy name; ":N" listens on loopback only');
  t.equal((await raw(api, 'POST', `/proxies/${encodeURIComponent('my db (primary)')}/toxics`, JSON.stringify({ type: 'latency', attributes: { latency: 1 } }))).status, 200);
  t.ok(sidecar.policy.listeners.some((l) => /^my-db-primary-[0-9a-f]{8}$/.test(l.name)), 'its listener gets a valid name');
  t.ok(sidecar.policy.rules.some((r) => /^toxiproxy\.my-db-primary-?\.latency_downstream-[0-9a-f]{8}$/.test(r.name)), 'and so does its toxic\'s rule');
  t.equal((await exchange(t, Number(odd.json.listen.split(':').pop()), 'odd')).data.toString(), 'odd');
  t.equal((await raw(api, 'DELETE', `/proxies/${encodeURIComponent('my db (primary)')}`)).status, 204);

  t.equal((await raw(api, 'DELETE', '/proxies/pg')).status, 204, 'delete is 204');
  t.equal((await raw(api, 'DELETE', '/proxies/pg')).status, 404);
  t.throws(() => sidecar.address('pg'), 'its listener is gone');

  t.equal((await raw(api, 'GET', '/proxies', undefined, { 'user-agent': 'Mozilla/5.0' })).status, 403, 'browsers are refused, as Toxiproxy does');
  t.equal((await raw(api, 'GET', '/nope')).status, 404);
  t.equal((await raw(api, 'PUT', '/proxies')).status, 405);
  const metrics = await raw(api, 'GET', '/metrics');
  t.match(metrics.text, /faultline_connections_total\{listener="redis",direction="outbound"\} \d+/, '/metrics serves the sidecar\'s metrics, per proxy');
  t.ok(lines.some((l) => l.action === 'toxiproxy.proxy.create' && l.proxy === 'redis' && l.outcome === 'applied' && typeof l.remote === 'string'), 'changes are audited');
  t.ok(lines.some((l) => l.action === 'toxiproxy.proxy.create' && l.outcome === 'refused' && l.status === 409), 'refused changes too, under the same action');
});

t.test('toxics: defaults, conflicts, update, delete, reset, populate', async (t) => {
  const { port: echo } = await echoServer(t);
  const { api } = await startToxiproxy(t);
  const toxiproxy = new Toxiproxy(api);
  const proxy = await toxiproxy.createProxy({ name: 'svc', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` });

  const added = await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type: 'latency', attributes: { latency: 50 } }));
  t.equal(added.status, 200, 'a new toxic is 200');
  t.strictSame(added.json, { attributes: { latency: 50, jitter: 0 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1 }, 'defaults: downstream, toxicity 1, <type>_<stream>');
  t.strictSame(Object.keys(added.json), ['attributes', 'name', 'type', 'stream', 'toxicity']);
  t.same((await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type: 'latency' }))).json, { error: 'toxic already exists', status: 409 });
  t.same((await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type: 'teleport' }))).json, { error: 'invalid toxic type', status: 400 });
  t.same((await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type: 'latency', stream: 'sideways' }))).json, { error: 'stream was invalid, can be either upstream or downstream', status: 400 });
  t.match((await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type: 'latency', name: 'frac', attributes: { latency: 1.5 } }))).json, { status: 400, error: /bad request body/ });
  t.same((await raw(api, 'POST', '/proxies/nope/toxics', JSON.stringify({ type: 'latency' }))).json, { error: 'proxy not found', status: 404 });

  // As the Go client sends it: an empty name, no stream, attributes it does not know are ignored.
  const goStyle = await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ name: '', type: 'bandwidth', toxicity: 0.5, attributes: { rate: 100, extra: 'x' } }));
  t.same(goStyle.json, { attributes: { rate: 100 }, name: 'bandwidth_downstream', type: 'bandwidth', stream: 'downstream', toxicity: 0.5 });
  const body: ICreateToxicBody<Latency> = { name: 'up_lat', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 10, jitter: 2 } };
  const toxic = await proxy.addToxic(body);
  t.equal(toxic.stream, 'upstream');
  for (const type of ['slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'noop']) {
    const r = await raw(api, 'POST', '/proxies/svc/toxics', JSON.stringify({ type, stream: 'upstream', toxicity: 0 }));
    t.equal(r.status, 200, `${type} is a toxic type`);
  }
  const list = (await raw(api, 'GET', '/proxies/svc/toxics')).json as { name: string; stream: string }[];
  t.same(list.map((x) => x.stream), [...Array(7).fill('upstream'), 'downstream', 'downstream'], 'upstream toxics are listed first, as Toxiproxy does');
  t.same((await raw(api, 'GET', '/proxies/svc/toxics/slicer_upstream')).json.attributes, { average_size: 0, size_variation: 0, delay: 0 });

  const updated = await toxic.update({ ...body, attributes: { latency: 20 } as Latency });
  t.same(updated.attributes, { latency: 20, jitter: 2 }, 'an update merges the attributes');
  const patched = await raw(api, 'PATCH', '/proxies/svc/toxics/up_lat', JSON.stringify({ toxicity: 0.25 }));
  t.same(patched.json, { attributes: { latency: 20, jitter: 2 }, name: 'up_lat', type: 'latency', stream: 'upstream', toxicity: 0.25 });
  t.same((await raw(api, 'PATCH', '/proxies/svc/toxics/nope', '{}')).json, { error: 'toxic not found', status: 404 });
  t.equal((await raw(api, 'DELETE', '/proxies/svc/toxics/up_lat')).status, 204);
  t.equal((await raw(api, 'DELETE', '/proxies/svc/toxics/up_lat')).status, 404);
  t.equal((await toxiproxy.get('svc').then((p) => p.getToxic('latency_downstream'))).name, 'latency_downstream');

  await raw(api, 'POST', '/proxies/svc', JSON.stringify({ enabled: false }));
  t.equal((await raw(api, 'POST', '/reset')).status, 204, 'reset is 204');
  const after = (await raw(api, 'GET', '/proxies/svc')).json;
  t.match(after, { enabled: true, toxics: [] }, 'reset enables every proxy and removes every toxic');

  const populated = await raw(api, 'POST', '/populate', JSON.stringify([
    { name: 'svc', listen: after.listen, upstream: `127.0.0.1:${echo}` },
    { name: 'other', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}`, enabled: false },
  ]));
  t.equal(populated.status, 201, 'populate is 201');
  t.match(populated.json.proxies, [{ name: 'svc', listen: after.listen, enabled: true }, { name: 'other', enabled: false }]);
  const viaClient = await toxiproxy.populate([{ name: 'third', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` }]);
  t.ok(viaClient.third, 'the client reads the populate answer');
  t.same((await raw(api, 'POST', '/populate', JSON.stringify([{ upstream: 'a:1' }]))).json, { error: 'missing required field: name at proxy 1', status: 400 });
  t.equal((await raw(api, 'POST', '/populate', JSON.stringify({}))).status, 400);
  const partial = await raw(api, 'POST', '/populate', JSON.stringify([
    { name: 'fourth', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo}` },
    { name: 'fifth', listen: after.listen, upstream: `127.0.0.1:${echo}` },
  ]));
  t.match(partial, { status: 500, json: { status: 500, proxies: [{ name: 'fourth' }] } }, 'a failure part way reports what was done');
});

t.test('the requests of Toxiproxy\'s Go client and toxiproxy-cli, byte for byte as they send them', async (t) => {
  const { port: echo } = await echoServer(t);
  const { api } = await startToxiproxy(t);
  const go = (method: string, path: string, body?: string) => raw(api, method, path, body, { 'content-type': 'application/json', 'user-agent': 'toxiproxy-cli' });

  // client.CreateProxy(name, listen, upstream) → proxy.Save() on a new proxy.
  const created = await go('POST', '/proxies', `{"name":"redis","listen":"127.0.0.1:0","upstream":"127.0.0.1:${echo}","enabled":true,"toxics":null}`);
  t.equal(created.status, 201);
  const listen = created.json.listen as string;
  // proxy.AddToxic("", "latency", "", 1, Attributes{"latency": 1000}): stream omitted, empty name.
  const toxic = await go('POST', '/proxies/redis/toxics', '{"name":"","type":"latency","toxicity":1,"attributes":{"latency":1000}}');
  t.same(toxic.json, { attributes: { latency: 1000, jitter: 0 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1 });
  // proxy.UpdateToxic(name, 0.5, Attributes{"latency": 500}) → PATCH.
  t.same((await go('PATCH', '/proxies/redis/toxics/latency_downstream', '{"attributes":{"latency":500},"toxicity":0.5}')).json.attributes, { latency: 500, jitter: 0 });
  // proxy.Disable() → Save() of a created proxy: POST /proxies/{name} with the whole proxy, toxics included.
  const saved = await go('POST', '/proxies/redis', `{"name":"redis","listen":"${listen}","upstream":"127.0.0.1:${echo}","enabled":false,"toxics":${JSON.stringify([toxic.json])}}`);
  t.match(saved, { status: 200, json: { enabled: false, listen } });
  t.equal((await go('POST', '/proxies/redis', `{"name":"redis","listen":"${listen}","upstream":"127.0.0.1:${echo}","enabled":true,"toxics":null}`)).json.listen, listen, 'enabled again on the same port');
  // client.Populate([]Proxy{...}).
  const populated = await go('POST', '/populate', `[{"name":"pg","listen":"127.0.0.1:0","upstream":"127.0.0.1:${echo}","enabled":true,"toxics":null}]`);
  t.match(populated, { status: 201, json: { proxies: [{ name: 'pg', enabled: true, toxics: [] }] } });
  // client.Proxies(), client.Proxy(name), proxy.Toxics(), toxic removal, client.ResetState().
  t.same(Object.keys((await go('GET', '/proxies')).json), ['pg', 'redis']);
  t.equal((await go('GET', '/proxies/redis/toxics')).json.length, 1);
  t.equal((await go('DELETE', '/proxies/redis/toxics/latency_downstream')).status, 204);
  t.equal((await go('POST', '/reset', '')).status, 204);
  t.equal((await go('DELETE', '/proxies/pg')).status, 204);
  t.match((await go('POST', '/proxies', `{"name":"anywhere","upstream":"127.0.0.1:${echo}"}`)).json, { listen: /^127\.0\.0\.1:\d+$/ }, 'no listen: any port, on loopback (Go binds every address: faultline does not)');
  const version = await go('GET', '/version');
  t.equal(version.type, 'application/json;charset=utf-8');
  t.match(version.text, /^\{"version": "2\.\d+\.\d+[^"]*"\}\n$/);
});
