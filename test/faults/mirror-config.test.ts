import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { mirror, mirrors, type MirrorOptions } from '../../src/faults/mirror.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

const policy = (fault: string, match = '{listener: up, protocol: http}') =>
  policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'], rules: `    - name: m\n      match: ${match}\n      faults:\n        - ${fault}` });

function problems(text: string): string[] {
  try {
    compilePolicy(text, 'p.yaml');
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.lines();
    throw err;
  }
}

t.test('mirror options: defaults', async (t) => {
  const options = compilePolicy(policy('{type: mirror, upstream: "dr.svc:8080"}'), 'p.yaml').rules[0]?.faults[0]?.options as MirrorOptions;
  t.match(options, {
    target: { origin: 'http://dr.svc:8080', secure: false },
    methods: ['GET', 'HEAD', 'OPTIONS'],
    timeout: 5000,
    maxBodyBytes: 1048576,
    concurrency: 32,
    compare: { status: true, headers: [], body: 'exact', ignore: [], tolerance: undefined, noise: 'off' },
  });
  const custom = compilePolicy(policy('{type: mirror, upstream: "https://dr.example.com", methods: [get, post], timeout: 2s, maxBodyBytes: 64KiB, compare: {headers: [X-Version], body: json, ignore: ["$.ts"], tolerance: "1%", noise: learn}}'), 'p.yaml').rules[0]?.faults[0]?.options as MirrorOptions;
  t.match(custom, { target: { secure: true }, methods: ['GET', 'POST'], timeout: 2000, maxBodyBytes: 65536, compare: { headers: ['x-version'], tolerance: { relative: 0.01 }, noise: 'learn' } });
  t.same((compilePolicy(policy('{type: mirror, upstream: "a:1", compare: {tolerance: 0.5}}'), 'p.yaml').rules[0]?.faults[0]?.options as MirrorOptions).compare.tolerance, { absolute: 0.5 });
});

t.test('mirror options: bad input is refused with FILE:LINE:COL', async (t) => {
  t.match(problems(policy('{type: mirror}')), [/p\.yaml:\d+:\d+: .*upstream/]);
  t.match(problems(policy('{type: mirror, upstream: "http://dr.svc/prefix"}')), [/expected HOST:PORT or an http:\/\/ or https:\/\/ URL without a path/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", compare: {ignore: ["ts"]}}')), [/"ts": JSONPath must start with "\$"/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", compare: {ignore: ["$[?(@.x)]"]}}')), [/not allowed/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", compare: {body: xml}}')), [/body/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", compare: {tolerance: "x"}}')), [/tolerance/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", concurrency: 0}')), [/concurrency must be at least 1/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", maxBodyBytes: 1GiB}')), [/at most 64MiB/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", timeout: 0}')), [/greater than 0/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1", methods: ["GET /x"]}')), [/HTTP method/]);
  t.match(problems(policy('{type: mirror, upstream: "a:1"}', '{listener: up}')), [/mirror acts on requests: the rule needs an L7 match/]);
});

t.test('which requests a mirror fault copies', async (t) => {
  const options = (methods: string) => compilePolicy(policy(`{type: mirror, upstream: "a:1"${methods}}`), 'p.yaml').rules[0]?.faults[0]?.options as MirrorOptions;
  const req = (protocol: 'http' | 'grpc' | 'ws', method: string, path = '/x') => ({ protocol, method, path, headers: {} });
  const reads = options('');
  t.ok(mirrors(reads, req('http', 'GET')));
  t.ok(mirrors(reads, req('http', 'head')));
  t.notOk(mirrors(reads, req('http', 'POST')), 'writes are not copied by default');
  t.notOk(mirrors(reads, req('grpc', 'POST', '/p.S/M')), 'nor gRPC calls');
  t.notOk(mirrors(reads, req('ws', 'GET')), 'never a WebSocket handshake');
  const grpc = options(', methods: ["/p.S/Get*"]');
  t.ok(mirrors(grpc, req('grpc', 'POST', '/p.S/GetUser')));
  t.notOk(mirrors(grpc, req('grpc', 'POST', '/p.S/DeleteUser')));
  t.ok(mirrors(options(', methods: [POST]'), req('grpc', 'POST', '/p.S/Any')), 'POST lists every gRPC call');
  t.equal(mirror.layer, 'http');
});
