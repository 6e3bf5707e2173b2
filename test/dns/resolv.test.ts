import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseDnsUpstream, systemResolver } from '../../src/dns/resolv.js';
import { tempDir } from '../helpers/sidecar.js';

t.test("the pod's resolver from resolv.conf, or --dns-upstream", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'resolv.conf');
  writeFileSync(file, '# written by the kubelet\nsearch default.svc.cluster.local svc.cluster.local\nnameserver fe80::1%eth0\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5\n');
  t.same(systemResolver(file), { host: '10.96.0.10', port: 53 }, 'the first usable nameserver, port 53');
  writeFileSync(file, 'search x\n');
  t.throws(() => systemResolver(file), { code: 'FL_ERR_USAGE', message: /no nameserver in .*: give --dns-upstream IP:PORT/ });
  t.throws(() => systemResolver(join(dir, 'missing')), { code: 'FL_ERR_USAGE', message: /cannot read .*ENOENT/ });
  t.same(parseDnsUpstream('[fd00::a]:5353'), { host: 'fd00::a', port: 5353 });
  for (const bad of ['kube-dns:53', '10.96.0.10', '10.96.0.10:0', '10.96.0.10:53; rm -rf /']) t.throws(() => parseDnsUpstream(bad), { code: 'FL_ERR_USAGE' }, bad);
});
