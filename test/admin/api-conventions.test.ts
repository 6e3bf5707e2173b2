import t from 'tap';
import { request } from 'undici';
import { startAdmin, TOKEN } from '../helpers/admin.js';
import { echoServer } from '../helpers/net.js';

const FILE_RULE = `    - name: from-file
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`;

t.test('405 says which methods the resource has, in Allow', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, FILE_RULE);
  const cases: [string, string, string][] = [
    ['PUT', '/killswitch', 'GET, HEAD, POST, DELETE'],
    ['POST', '/status', 'GET, HEAD'],
    ['PATCH', '/rules', 'GET, HEAD, POST'],
    ['POST', '/rules/x', 'GET, HEAD, DELETE'],
  ];
  for (const [method, path, allow] of cases) {
    const res = await h.call(method, path);
    t.equal(res.status, 405, `${method} ${path}`);
    t.equal(res.headers.allow, allow, `${method} ${path}: Allow: ${allow}`);
    t.match(res.json, { error: 'method_not_allowed', message: new RegExp(`allowed: ${allow}$`) });
  }
  t.equal((await h.call('PUT', '/nope')).status, 404, 'an unknown path is still 404');
});

t.test('GET /rules/NAME, YAML bodies, and duplicate names with their path', async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, FILE_RULE);
  const yaml = `# a runtime rule, as YAML
name: slow
match: {listener: up}
faults:
  - {type: latency, latency: 20ms}
`;
  const post = (body: string, contentType: string) => request(`${h.admin}/rules`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': contentType }, body });
  const created = await post(yaml, 'application/yaml');
  t.equal(created.statusCode, 201, await created.body.text());
  t.same((await h.call('GET', '/rules/slow')).json, { rule: { name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '20ms' }] } });
  t.equal((await post(yaml.replace('20ms', '30ms'), 'text/yaml; charset=utf-8')).statusCode, 200, 'text/yaml replaces it');
  const broken = await post('name: [', 'application/x-yaml');
  t.equal(broken.statusCode, 400);
  t.match(await broken.body.json(), { error: 'malformed_yaml', message: /^the rule is not valid YAML: / });
  t.match((await h.call('POST', '/rules', { body: 'name: x' })).json, { error: 'malformed_json' }, 'without a YAML content type the body is JSON');

  const duplicate = await h.call('POST', '/rules', { body: { name: 'from-file', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 5 }] } });
  t.equal(duplicate.status, 400);
  t.match(duplicate.json.problems, [{ path: 'name', message: /from-file/ }], 'the duplicate name has its path');
  t.match(await h.call('GET', '/rules/from-file'), { status: 404, json: { message: '"from-file" is a rule of the policy file, not a runtime rule: change the file' } });
});
