import t from 'tap';
import { ANNOTATIONS, isDns1123Subdomain, readSettings, unknownAnnotations, wantsInjection } from '../../src/kubernetes/annotations.js';

t.test('who asks for the sidecar', async (t) => {
  t.ok(wantsInjection({ [ANNOTATIONS.inject]: 'true' }, undefined), 'the annotation');
  t.ok(wantsInjection(undefined, { [ANNOTATIONS.inject]: 'true' }), 'or the label');
  t.notOk(wantsInjection({}, {}), 'nothing: no');
  t.ok(wantsInjection({}, {}, true), 'a labelled namespace: yes');
  t.notOk(wantsInjection({ [ANNOTATIONS.inject]: 'false' }, undefined, true), 'unless the pod opts out');
  t.throws(() => wantsInjection({ [ANNOTATIONS.inject]: 'yes' }, undefined), { code: 'FL_ERR_ANNOTATION', message: /must be "true" or "false"/ }, 'only "true" or "false": "yes" is refused, not skipped');
});

t.test('defaults and every documented annotation, normalized', async (t) => {
  t.same(readSettings(undefined), {
    policy: 'faultline-policy',
    includeInboundPorts: '*',
    excludeInboundPorts: [],
    excludeOutboundPorts: [],
    includeOutboundCidrs: [],
    excludeOutboundCidrs: [],
    interception: 'always',
    nativeSidecar: false,
    interceptDns: false,
  });
  const settings = readSettings({
    [ANNOTATIONS.policy]: 'checkout.faults-v2',
    [ANNOTATIONS.includeInboundPorts]: '8080, 9090',
    [ANNOTATIONS.excludeInboundPorts]: '22',
    [ANNOTATIONS.excludeOutboundPorts]: '5432,6379,5432',
    [ANNOTATIONS.includeOutboundCidrs]: '10.0.0.0/8,FD00::/8',
    [ANNOTATIONS.excludeOutboundCidrs]: '10.96.0.0/12, 169.254.169.254',
    [ANNOTATIONS.interception]: 'on-demand',
    [ANNOTATIONS.nativeSidecar]: 'true',
    [ANNOTATIONS.interceptDns]: 'true',
  });
  t.equal(settings.interceptDns, true, 'intercept-dns: "true"');
  t.equal(readSettings({ [ANNOTATIONS.tlsCaSecret]: 'shop-tls-ca' }).tlsCaSecret, 'shop-tls-ca');
  t.throws(() => readSettings({ [ANNOTATIONS.tlsCaSecret]: 'ca; rm -rf /' }), { code: 'FL_ERR_ANNOTATION', message: /faultline\.dev\/tls-ca-secret: "ca; rm -rf \/" is not a Secret name/ });
  t.throws(() => readSettings({ [ANNOTATIONS.interceptDns]: 'yes' }), { code: 'FL_ERR_ANNOTATION', message: /faultline\.dev\/intercept-dns: "yes" must be "true" or "false"/ });
  t.equal(settings.policy, 'checkout.faults-v2');
  t.same(settings.includeInboundPorts, [8080, 9090]);
  t.same(settings.excludeInboundPorts, [22]);
  t.same(settings.excludeOutboundPorts, [5432, 6379]);
  t.same(settings.includeOutboundCidrs, [{ cidr: '10.0.0.0/8', family: 4 }, { cidr: 'fd00::/8', family: 6 }]);
  t.same(settings.excludeOutboundCidrs.map((c) => c.cidr), ['10.96.0.0/12', '169.254.169.254/32']);
  t.equal(settings.interception, 'on-demand');
  t.equal(settings.nativeSidecar, true);
  t.equal(readSettings({ [ANNOTATIONS.interception]: 'none' }).interception, 'none');
  t.equal(readSettings({ [ANNOTATIONS.includeInboundPorts]: ' * ' }).includeInboundPorts, '*');
  t.same(readSettings({ [ANNOTATIONS.includeInboundPorts]: '' }).includeInboundPorts, [], 'an empty list: no inbound capture');
});

t.test('hostile and bad values are refused with a message that names the annotation and the value', async (t) => {
  const cases: [string, string, RegExp][] = [
    [ANNOTATIONS.excludeOutboundPorts, '80; rm -rf /', /not a comma-separated list of ports 1-65535: "80; rm -rf \/" is not a port/],
    [ANNOTATIONS.excludeOutboundCidrs, '0/0 -j ACCEPT', /not a comma-separated list of IPs or CIDRs: "0\/0 -j ACCEPT" is not an IP or CIDR/],
    [ANNOTATIONS.includeInboundPorts, '99999', /"99999" is not a port/],
    [ANNOTATIONS.excludeInboundPorts, '80,$(reboot)', /"\$\(reboot\)" is not a port/],
    [ANNOTATIONS.includeOutboundCidrs, '10.0.0.1/8', /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/],
    [ANNOTATIONS.includeOutboundCidrs, '10.0.0.0/8 ! -d 1.1.1.1', /is not an IP or CIDR/],
    [ANNOTATIONS.policy, '../../etc/passwd', /not a ConfigMap name/],
    [ANNOTATIONS.policy, 'Policy', /not a ConfigMap name/],
    [ANNOTATIONS.policy, 'a..b', /not a ConfigMap name/],
    [ANNOTATIONS.policy, '-leading', /not a ConfigMap name/],
    [ANNOTATIONS.policy, 'x'.repeat(254), /not a ConfigMap name/],
    [ANNOTATIONS.interception, 'sometimes', /must be "always", "on-demand" or "none"/],
    [ANNOTATIONS.nativeSidecar, 'yes', /must be "true" or "false"/],
  ];
  for (const [annotation, value, why] of cases) {
    t.throws(() => readSettings({ [annotation]: value }), { name: 'AnnotationError', code: 'FL_ERR_ANNOTATION', annotation, message: `annotation ${annotation}: ${JSON.stringify(value)}` }, `${annotation}: ${value}`);
    t.throws(() => readSettings({ [annotation]: value }), { message: why });
  }
});

t.test('ConfigMap names are DNS-1123 subdomains', async (t) => {
  for (const ok of ['faultline-policy', 'a', 'checkout.v2', '0-x', `${'a'.repeat(63)}.b`]) t.ok(isDns1123Subdomain(ok), ok);
  for (const bad of ['', 'A', 'a_b', 'a.', '.a', 'a-', `${'a'.repeat(64)}`, 'a b', 'a/b']) t.notOk(isDns1123Subdomain(bad), JSON.stringify(bad));
});

t.test('unknown faultline.dev annotations are reported (probably typos)', async (t) => {
  t.same(unknownAnnotations({ 'faultline.dev/exclude-outbound-port': '5432', [ANNOTATIONS.inject]: 'true', 'other.io/x': 'y' }), ['faultline.dev/exclude-outbound-port']);
  t.same(unknownAnnotations(undefined), []);
});
