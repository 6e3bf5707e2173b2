import t from 'tap';
import { formatHostPort, hostPortFlag, parseHostPort } from '../../src/net/address.js';

t.test('parseHostPort: names, IPv4, bracketed IPv6; ports 0-65535', async (t) => {
  t.same(parseHostPort('db.default.svc:5432'), { host: 'db.default.svc', port: 5432 });
  t.same(parseHostPort('10.0.0.1:0'), { host: '10.0.0.1', port: 0 });
  t.same(parseHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  for (const bad of ['', 'host', 'host:', ':80', 'host:65536', 'host:123456', '[nope]:80', '::1:80', 'a b:80', 'host:8o', '[::1]80']) {
    t.equal(parseHostPort(bad), undefined, `"${bad}" is refused`);
  }
  t.same(parseHostPort(':80', { emptyHost: '::' }), { host: '::', port: 80 }, 'an empty host, where the caller allows it');
});

t.test('formatHostPort brackets IPv6; hostPortFlag names the flag in its error', async (t) => {
  t.equal(formatHostPort('::1', 80), '[::1]:80');
  t.equal(formatHostPort('127.0.0.1', 80), '127.0.0.1:80');
  t.same(hostPortFlag(':9464', '--metrics'), { host: '0.0.0.0', port: 9464 });
  t.throws(() => hostPortFlag('nope', '--metrics'), { code: 'FL_ERR_USAGE', message: /^--metrics: expected HOST:PORT/ });
});
