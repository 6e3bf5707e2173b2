import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { canUseDnsTools, dig, digAnswer, freeDualPort, startDnsmasq } from '../helpers/dns.js';
import { listenerPort, runCli, startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

const skip = canUseDnsTools();

t.test('faultline sidecar --dns-port/--dns-upstream: the transparent DNS proxy, its rules and metrics', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const dir = tempDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ rules: '    - {name: gone, match: {dns: {names: ["api.example.test"]}}, faults: [{type: dns_error, rcode: NXDOMAIN}]}' }));
  const port = await freeDualPort();
  const daemon = startDaemon(t, ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--dns-port', String(port), '--dns-upstream', `127.0.0.1:${upstream.port}`]);
  const line = await daemon.waitForLine((l) => l.listener === 'dns' && typeof l.address === 'string');
  t.match(line, { address: `127.0.0.1:${port}`, upstream: `127.0.0.1:${upstream.port}`, msg: 'listening (DNS, udp and tcp)' });
  t.equal(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'api.example.test'])).status, 'NXDOMAIN', 'the rule applies to transparent DNS');
  t.same(digAnswer(await dig(['@127.0.0.1', '-p', String(port), '+tcp', 'other.example.test'])).records, ['other.example.test. 0 IN A 10.1.2.4'], 'others are forwarded');
  const metrics = await listenerPort(daemon, 'metrics');
  const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  t.match(text, /faultline_dns_queries_total\{rule="gone",rcode="NXDOMAIN",faulted="true"\} 1/);
  t.match(text, /faultline_faults_injected_total\{rule="gone",fault="dns_error",listener="dns",direction="outbound"\} 1/);
  const admin = await listenerPort(daemon, 'admin');
  const view = (await (await fetch(`http://127.0.0.1:${admin}/dns`)).json()) as { proxies: { listener: string; recent: unknown[] }[] };
  t.match(view.proxies, [{ listener: 'dns', recent: [{ name: 'api.example.test', rcode: 'NXDOMAIN' }, { transport: 'tcp', name: 'other.example.test', rcode: 'NOERROR' }] }], 'GET /dns');
  const bad = await runCli(['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--dns-port', '0', '--dns-upstream', 'kube-dns:53']);
  t.not(bad.code, 0, 'a bad --dns-upstream stops the sidecar');
  t.match(bad.stderr, /--dns-upstream: "kube-dns:53" must be a resolver's IP:PORT/);
  const packetLoss = join(dir, 'loss.yaml');
  writeFileSync(packetLoss, policyText({ rules: '    - {name: lossy, faults: [{type: packet_loss, probability: 0.1}]}' }));
  const refused = await runCli(['sidecar', '--policy', packetLoss, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  t.equal(refused.code, 1, 'packet_loss outside on-demand mode: refused at start');
  t.match(refused.stderr, /packet_loss needs on-demand interception/);
});
