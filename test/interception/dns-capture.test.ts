import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { canUseDnsTools, namespaceResolver, startDnsmasq } from '../helpers/dns.js';
import { canUseNetns, nsExec, nsSpawn, threeHosts } from '../helpers/netns.js';
import { podFixture, until } from '../helpers/on-demand.js';
import { BIN } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

const skip = canUseNetns() || canUseDnsTools();

const DNS_RULES = `    - name: pinned
      match: {dns: {names: ["api.example.test"]}}
      faults: [{type: dns_answer, addresses: ["192.0.2.55"]}]
    - name: gone
      match: {dns: {names: ["other.example.test"]}}
      faults: [{type: dns_error, rcode: NXDOMAIN}]`;

/** `getent hosts NAME` in a namespace (glibc's resolver, /etc/resolv.conf): its first address, or "not found". */
function getent(ns: string, name: string, asUid?: number): string {
  const prefix = asUid === undefined ? [] : ['setpriv', '--reuid', String(asUid), '--regid', String(asUid), '--clear-groups'];
  try {
    return nsExec(ns, [...prefix, 'getent', 'ahostsv4', name]).split(/\s+/)[0] ?? '';
  } catch {
    return 'not found';
  }
}

const queries = (f: { inPod: (a: string[]) => string }) => {
  const text = f.inPod(['curl', '-sf', 'http://127.0.0.1:15020/metrics']);
  return [...text.matchAll(/^faultline_dns_queries_total\{[^}]*\} (\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
};

t.test('faultline iptables --intercept-dns: the pod resolves through the sidecar; the sidecar\'s own lookups do not loop', { skip }, async (t) => {
  const { pod, remote } = threeHosts(t);
  const resolver = await startDnsmasq(t, { address: '10.202.0.2', port: 53, wrap: ['ip', 'netns', 'exec', remote] });
  await namespaceResolver(t, pod, '10.202.0.2');
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, policyText({ listeners: [], rules: DNS_RULES }));
  chmodSync(policy, 0o644);
  t.equal(getent(pod, 'api.example.test'), '10.1.2.3', 'before: the pod resolves directly');

  const applied = nsExec(pod, [process.execPath, BIN, 'iptables', '--intercept-dns', '--ipv6', 'off']);
  t.match(applied, /interception rules applied/);
  const nat = nsExec(pod, ['iptables', '-t', 'nat', '-S']);
  t.match(nat, /^-A OUTPUT -p udp -m udp --dport 53 -j FAULTLINE_DNS$/m, 'UDP port 53 jumps to the DNS chain');
  t.match(nat, /^-A OUTPUT -p tcp -m tcp --dport 53 -j FAULTLINE_DNS$/m, 'TCP too');
  t.match(nat, /^-A FAULTLINE_DNS -m owner --uid-owner 1337 -j RETURN$/m, "the sidecar's own lookups are exempt");
  t.match(nat, /^-A FAULTLINE_DNS -p udp -j REDIRECT --to-ports 15053$/m);
  const sidecar = nsSpawn(
    t,
    pod,
    ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, BIN, 'sidecar', '--policy', policy, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '0.0.0.0:15020'],
    { FAULTLINE_LOG_LEVEL: 'info', HOME: '/tmp' },
  );
  const ready = await until(() => nsExec(pod, ['curl', '-sf', 'http://127.0.0.1:15020/readyz']).includes('ready'), 20_000);
  t.ok(ready, `the sidecar is ready (${ready ? 'ok' : sidecar.output()})`);
  // Log lines are written asynchronously: readiness may come first.
  const dnsLine = /"upstream":"10\.202\.0\.2:53".*listening \(DNS, udp and tcp\)/;
  await until(() => dnsLine.test(sidecar.output()), 5_000);
  t.match(sidecar.output(), dnsLine, "its DNS proxy forwards to the pod's resolver from resolv.conf");

  const f = { inPod: (a: string[]) => nsExec(pod, a) };
  const before = resolver.queries();
  t.equal(getent(pod, 'api.example.test'), '192.0.2.55', 'getent hosts in the pod sees the fault (dns_answer)');
  t.equal(getent(pod, 'other.example.test'), 'not found', 'and NXDOMAIN');
  t.equal(resolver.queries(), before, 'faulted queries never reach the resolver');
  const counted = queries(f);
  t.ok(counted >= 2, `the sidecar answered them (${counted} queries)`);
  t.equal(getent(pod, 'db.payments.svc.cluster.local'), '10.9.0.7', 'an unmatched name resolves through the sidecar to the real answer');
  const forwarded = queries(f) - counted;
  t.ok(forwarded >= 1, `${forwarded} queries forwarded`);
  // dnsmasq's log lines reach us a little after its answers.
  await until(() => resolver.queries() - before >= forwarded, 2000);
  t.equal(resolver.queries() - before, forwarded, 'each reached the resolver exactly once: the forwarded query was not captured again');
  const dig = nsExec(pod, ['dig', '+tcp', '+short', '@10.202.0.2', 'api.example.test']);
  t.equal(dig.trim(), '192.0.2.55', 'DNS over TCP is captured too');

  const own = queries(f);
  t.equal(getent(pod, 'api.example.test', 1337), '10.1.2.3', "a lookup as the sidecar's UID goes straight to the resolver, unfaulted");
  t.equal(queries(f), own, 'and never reaches the sidecar');
  nsExec(pod, [process.execPath, BIN, 'iptables', '--cleanup']);
  t.notMatch(nsExec(pod, ['iptables', '-t', 'nat', '-S']), /FAULTLINE/, '--cleanup removes the DNS chain and its jumps');
  t.equal(getent(pod, 'api.example.test'), '10.1.2.3', 'after cleanup the pod resolves directly again');
});

t.test('on-demand: the DNS redirect exists while a DNS rule is active, and goes with it', { skip }, async (t) => {
  const f = podFixture(t);
  const resolver = await startDnsmasq(t, { address: '10.202.0.2', port: 53, wrap: ['ip', 'netns', 'exec', f.remote] });
  await namespaceResolver(t, f.pod, '10.202.0.2');
  f.write(undefined);
  await f.start(t);
  t.notMatch(f.nat(), /FAULTLINE/, 'no DNS rule: no redirect');
  t.equal(getent(f.pod, 'api.example.test'), '10.1.2.3', 'the pod resolves directly');
  t.equal(queries(f), 0);

  f.write(DNS_RULES);
  t.ok(await until(() => /FAULTLINE_DNS/.test(f.nat())), 'a DNS rule installs the DNS redirect');
  const nat = f.nat();
  t.match(nat, /^-A FAULTLINE_DNS -m time --datestart \S+ --datestop \S+ -j RETURN$/m, 'with its lease');
  t.match(nat, /^-A FAULTLINE_DNS -p tcp -j REDIRECT --to-ports 15053$/m);
  t.notMatch(nat, /FAULTLINE_REDIRECT|FAULTLINE_IN_REDIRECT/, 'and no TCP redirect: DNS rules need none');
  t.match(f.admin('GET', '/policy').json?.interception, { dns: true, installed: true });
  t.equal(getent(f.pod, 'api.example.test'), '192.0.2.55', 'the pod sees the fault');
  const before = resolver.queries();
  t.equal(getent(f.pod, 'db.payments.svc.cluster.local'), '10.9.0.7', 'and unmatched names resolve');
  t.ok(await until(() => resolver.queries() > before, 2000), 'through the sidecar, which forwards as UID 1337 without being captured again');
  t.match(f.admin('GET', '/dns').json?.proxies?.[0], { listener: 'dns', recent: [{ name: 'api.example.test', rule: 'pinned' }] }, 'GET /dns shows the queries');

  f.write(undefined);
  t.ok(await until(() => !/FAULTLINE_DNS/.test(f.nat())), 'removing the rule removes the redirect');
  t.equal(getent(f.pod, 'api.example.test'), '10.1.2.3', 'the pod resolves directly again');
});
