import { readFileSync } from 'node:fs';
import t from 'tap';
import { configFromFlags, flagsToArgs } from '../../src/interception/config.js';
import { handle, HELPER_OPTIONS } from '../../src/interception/helper.js';
import { DEFAULT_CONFIG } from '../../src/interception/iptables.js';
import { RuleKeeper } from '../../src/interception/rule-keeper.js';
import { canUseNetns, nsExec, oneNamespace } from '../helpers/netns.js';
import { runCli } from '../helpers/process.js';

/** A keeper that runs nothing, and what it was asked to run. */
function fakeKeeper(fail = false) {
  const inputs: string[] = [];
  const keeper = new RuleKeeper(DEFAULT_CONFIG, [4], 10_000, (_family, input) => {
    if (fail) throw new Error('iptables-restore: line 3 failed');
    inputs.push(input);
  }, () => undefined);
  return { keeper, inputs };
}

t.test('the helper validates every message whole before anything runs', async (t) => {
  const { keeper, inputs } = fakeKeeper();
  const hostile: [string, unknown][] = [
    ['not an object', 'iptables -F'],
    ['an unknown type', { type: 'exec', id: 1, command: ['iptables', '-F'] }],
    ['an unknown key', { type: 'apply', id: 2, demand: { redirect: [], partition: [] }, args: ['-j', 'ACCEPT'] }],
    ['a CIDR with an argument in it', { type: 'apply', id: 3, demand: { redirect: [{ direction: 'outbound', family: 4, destination: '0/0 -j ACCEPT' }], partition: [] } }],
    ['a CIDR not in normal form', { type: 'apply', id: 4, demand: { redirect: [{ direction: 'outbound', family: 4, destination: '10.0.0.1/8' }], partition: [] } }],
    ['a family that does not match the CIDR', { type: 'apply', id: 5, demand: { redirect: [{ direction: 'outbound', family: 6, destination: '10.0.0.0/8' }], partition: [] } }],
    ['a CIDR without a family', { type: 'apply', id: 6, demand: { redirect: [{ direction: 'outbound', destination: '10.0.0.0/8' }], partition: [] } }],
    ['a port out of range', { type: 'apply', id: 7, demand: { redirect: [{ direction: 'inbound', ports: [65536] }], partition: [] } }],
    ['a port that is not a number', { type: 'apply', id: 8, demand: { redirect: [{ direction: 'inbound', ports: ['80 -j ACCEPT'] }], partition: [] } }],
    ['an empty port list', { type: 'apply', id: 9, demand: { redirect: [{ direction: 'inbound', ports: [] }], partition: [] } }],
    ['an unknown direction', { type: 'apply', id: 10, demand: { redirect: [{ direction: 'sideways' }], partition: [] } }],
    ['an unknown partition mode', { type: 'apply', id: 11, demand: { redirect: [], partition: [{ direction: 'inbound', mode: 'ACCEPT' }] } }],
    ['too many selections', { type: 'apply', id: 12, demand: { redirect: Array.from({ length: 129 }, () => ({ direction: 'inbound' })), partition: [] } }],
  ];
  for (const [what, message] of hostile) {
    const reply = handle(keeper, message);
    t.equal(reply.ok, false, what);
    t.match(reply.error, /^refused: /);
  }
  t.equal(inputs.length, 0, 'nothing ran');
  t.equal(handle(keeper, { type: 'apply', id: 3, demand: { redirect: [], partition: [{ direction: 'outbound', family: 4, destination: '0/0 -j ACCEPT', mode: 'reject' }] } }).id, 3, 'a refusal answers with the id it was asked with');

  const ok = handle(keeper, { type: 'apply', id: 20, demand: { redirect: [{ direction: 'outbound', family: 6, destination: 'fd00::/8', ports: [443] }], partition: [] } });
  t.match(ok, { type: 'result', id: 20, ok: true, leaseEnd: Number }, 'a valid demand runs');
  t.equal(inputs.length, 0, 'an IPv6 selection runs nothing on an IPv4-only helper');
  t.match(handle(keeper, { type: 'apply', id: 21, demand: { redirect: [{ direction: 'inbound', ports: [80] }], partition: [] } }), { ok: true, rules: [/FAULTLINE/] });
  t.equal(inputs.length, 1);
  t.match(handle(keeper, { type: 'prune', id: 22, nat: false }), { id: 22, ok: true });

  const failing = fakeKeeper(true).keeper;
  t.match(handle(failing, { type: 'apply', id: 30, demand: { redirect: [{ direction: 'inbound' }], partition: [] } }), { id: 30, ok: false, error: /line 3 failed/ }, 'a failing iptables is an answer, not a crash');
});

t.test('the sidecar passes its validated flags to the helper, which knows every one of them', async (t) => {
  const flags = {
    inboundPorts: '8080', excludeInboundPorts: '22', excludeOutboundPorts: '5432', includeOutboundCidrs: '10.0.0.0/8', excludeOutboundCidrs: '10.96.0.0/12',
    proxyUid: '1337', proxyGid: '1338', ipv6: 'off', inboundCapturePort: '15106', outboundCapturePort: '15101', sidecarPorts: '15000,15020,15100', dnsCapturePort: '15153',
  };
  const args = flagsToArgs(flags);
  t.same(args.filter((a) => a.startsWith('--')).map((a) => a.slice(2)), HELPER_OPTIONS.filter((o) => o !== 'lease-ms'), 'the same options, in the same order');
  t.match(configFromFlags(flags), { proxyGid: 1338, inboundCapturePort: 15106, outboundCapturePort: 15101, sidecarPorts: [15000, 15020, 15100], inboundPorts: [8080] });
  t.notOk(flagsToArgs({ ...flags, proxyGid: undefined }).includes('--proxy-gid'), 'an absent flag is not passed');
});

t.test('faultline interception-helper is not for humans', async (t) => {
  const { code, stderr } = await runCli(['interception-helper']);
  t.equal(code, 1);
  t.match(stderr, /started by `faultline sidecar --interception on-demand`, not by hand/);
});

t.test('the helper process: ready, applies, refuses, removes everything when its sidecar goes', { skip: canUseNetns() }, async (t) => {
  const ns = oneNamespace(t, 'fl-help-');
  const client = new URL('../../src/interception/helper-client.ts', import.meta.url).href;
  // A stand-in sidecar in the namespace: starts the helper, talks to it, then dies without a word.
  const script = `
import { InterceptionHelper } from ${JSON.stringify(client)};
const out = (o) => console.log(JSON.stringify(o));
const bad = await InterceptionHelper.start(['--lease-ms', '10']).catch((e) => e.message);
out({ bad });
const helper = await InterceptionHelper.start(['--ipv6', 'off', '--lease-ms', '5000', '--exclude-outbound-ports', '53']);
out({ families: helper.families, pid: helper.pid });
const applied = await helper.apply({ redirect: [{ direction: 'outbound', ports: [6379] }], partition: [{ direction: 'inbound', family: 4, source: '10.9.9.9/32', mode: 'blackhole' }] });
out({ applied });
out({ refused: await helper.apply({ redirect: [{ direction: 'outbound', family: 4, destination: '1.2.3.4/32; reboot' }], partition: [] }).catch((e) => e.code) });
const removed = await helper.apply({ redirect: [], partition: [] });
out({ removed, pruned: await helper.prune(true) });
await helper.apply({ redirect: [{ direction: 'outbound', ports: [6380] }], partition: [] });
out({ reinstalled: true });
process.exit(0);`;
  const output = nsExec(ns, [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script]);
  const lines = output.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  t.match(lines[0]?.bad, /on-demand interception cannot start: --lease-ms: "10" must be a whole number of ms, at least 1000/, 'a bad flag: the helper says why and exits');
  t.match(lines[1], { families: [4], pid: Number });
  t.ok(lines[2]?.applied.rules.includes('iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 6379 -j FAULTLINE_REDIRECT'), 'applied');
  t.ok(lines[2]?.applied.rules.includes('iptables -t filter -A FAULTLINE_PART_IN -p tcp -s 10.9.9.9/32 -j DROP'));
  t.ok(lines[2]?.applied.rules.includes('iptables -t nat -A FAULTLINE_OUTPUT -p tcp --dport 53 -j RETURN'), 'with the exemptions of its own command line');
  t.equal(lines[3]?.refused, 'FL_ERR_IPTABLES', 'a hostile value is refused by the helper itself');
  t.match(lines[4], { removed: { rules: [], lingering: [/FAULTLINE_REDIRECT -p tcp -j REDIRECT/] }, pruned: { rules: [], lingering: [] } });
  t.same(lines[5], { reinstalled: true });
  let left = '';
  const alive = () => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${lines[1]?.pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 60; i++) {
    left = nsExec(ns, ['iptables-save']);
    if (!left.includes('FAULTLINE') && !alive()) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.notMatch(left, /FAULTLINE/, 'its sidecar exited: the helper removed every rule and went');
  t.notOk(alive(), 'and no helper is left running');
});
