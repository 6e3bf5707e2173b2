import t from 'tap';
import { parsePeer } from '../../src/net/peer.js';

t.test('peer patterns: IPs, CIDRs, names, each with an optional port', async (t) => {
  t.same(parsePeer('10.0.0.0/8'), { kind: 'ip', address: '10.0.0.0', family: 4, prefix: 8, port: undefined });
  t.same(parsePeer('fd00::/8'), { kind: 'ip', address: 'fd00::', family: 6, prefix: 8, port: undefined });
  t.same(parsePeer('[::1]:80'), { kind: 'ip', address: '::1', family: 6, prefix: undefined, port: 80 });
  t.same(parsePeer('10.1.2.3:5432'), { kind: 'ip', address: '10.1.2.3', family: 4, prefix: undefined, port: 5432 });
  t.same(parsePeer('DB.default.svc:5432'), { kind: 'name', name: 'db.default.svc', port: 5432 });
  t.same(parsePeer('_sip._tcp.example.com.'), { kind: 'name', name: '_sip._tcp.example.com.', port: undefined });
});

t.test('malformed patterns say why, instead of widening a rule', async (t) => {
  const cases: [string, RegExp][] = [
    ['10.0.0.0/', /prefix length is a decimal number from 0 to 32/],
    ['1.2.3.4/0x8', /decimal number/],
    ['10.0.0.0/1e1', /decimal number/],
    ['/8', /a CIDR is IP\/PREFIX/],
    ['*/8', /a CIDR is IP\/PREFIX/],
    ['300.1.1.1/8', /"300\.1\.1\.1" is not an IP address/],
    ['10.0.0.0/33', /\/33 is out of range for IPv4 \(0-32\)/],
    ['::/129', /\/129 is out of range for IPv6 \(0-128\)/],
    ['300.1.1.1', /not a valid IP address/],
    ['10.0.0.1:0', /port 0/],
    ['10.0.0.1:70000', /ports are 1-65535/],
    ['db:99999', /ports are 1-65535/],
    ['*.svc', /not an IP, a CIDR/],
    ['a..b', /not an IP, a CIDR/],
    ['', /not an IP, a CIDR/],
    ['x'.repeat(254), /not an IP, a CIDR/],
  ];
  for (const [pattern, why] of cases) {
    const parsed = parsePeer(pattern);
    t.ok('error' in parsed, `${pattern.slice(0, 20)} refused`);
    if ('error' in parsed) t.match(parsed.error, why);
  }
});
