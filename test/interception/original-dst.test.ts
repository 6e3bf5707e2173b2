import { once } from 'node:events';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { getOriginalDestination, loadOriginalDstHelper, NATIVE_HELPER, originalDstAvailable } from '../../src/interception/original-dst.js';
import { sleep } from '../helpers/net.js';
import { canUseNetns, ip6NatWorks, nsExec, nsSpawn, threeHosts } from '../helpers/netns.js';

const SERVER = fileURLToPath(new URL('../helpers/original-dst-server.ts', import.meta.url));

t.test('without the helper, a clear error that says how to build it', async (t) => {
  t.notOk(originalDstAvailable('/nonexistent/original_dst.node'));
  t.throws(() => loadOriginalDstHelper('/nonexistent/original_dst.node'), {
    name: 'NativeHelperMissingError',
    code: 'FL_ERR_NATIVE_HELPER_MISSING',
    message: /npx node-gyp rebuild --directory sidecar\/native \(needs g\+\+, make and python3\)/,
  });
});

t.test('a socket without a file descriptor is refused, not crashed on', { skip: originalDstAvailable() ? false : `helper not built at ${NATIVE_HELPER}` }, async (t) => {
  t.throws(() => getOriginalDestination(new Socket()), { code: 'FL_ERR_ORIGINAL_DST', message: /no file descriptor/ });
  const helper = loadOriginalDstHelper();
  t.throws(() => helper.originalDst(-1), { code: 'FL_ERR_USAGE' }, 'the native side checks its argument');
  t.throws(() => helper.originalDst(0), { message: /getsockname|SO_ORIGINAL_DST/ }, 'an fd that is not a socket (stdin) gives errno\'s text');
});

/** Connects from inside `ns` and returns the server's one-line JSON answer (or the error). */
function ask(ns: string, host: string, port: number): Record<string, unknown> {
  const script = `
const s = require('net').connect(${port}, ${JSON.stringify(host)});
let d = '';
s.setTimeout(5000, () => { console.log('{"error":"timeout"}'); process.exit(0); });
s.on('data', (c) => (d += c));
s.on('end', () => { console.log(d.trim() || '{"error":"empty"}'); process.exit(0); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });`;
  return JSON.parse(nsExec(ns, [process.execPath, '-e', script]).trim()) as Record<string, unknown>;
}

const skip = canUseNetns() || (originalDstAvailable() ? false : `helper not built at ${NATIVE_HELPER}`);

t.test('SO_ORIGINAL_DST in network namespaces: inbound and outbound, IPv4 and IPv6', { skip }, async (t) => {
  const { client, pod } = threeHosts(t);
  const ipv6 = ip6NatWorks(pod);
  for (const bin of ['iptables', ...(ipv6 ? ['ip6tables'] : [])]) {
    nsExec(pod, [bin, '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', '15006']);
    nsExec(pod, [bin, '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9090', '-j', 'REDIRECT', '--to-ports', '15001']);
  }
  nsExec(pod, ['iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9091', '-j', 'REDIRECT', '--to-ports', '15011']);
  // A dual-stack capture listener (IPv4 peers arrive as ::ffff:a.b.c.d) and an IPv4-only one.
  const dual = nsSpawn(t, pod, [process.execPath, '--import', 'tsx', SERVER, '::', '15001', '15006']);
  const v4 = nsSpawn(t, pod, [process.execPath, '--import', 'tsx', SERVER, '0.0.0.0', '15011']);
  for (let i = 0; i < 100 && !(dual.output().includes('listening 15006') && v4.output().includes('listening 15011')); i++) await sleep(100);
  t.match(dual.output(), /listening 15001[\s\S]*listening 15006|listening 15006[\s\S]*listening 15001/, 'the capture servers listen');

  t.same(ask(client, '10.201.0.2', 8080), { address: '10.201.0.2', port: 8080, family: 4 }, 'inbound IPv4: the pod address and port the client dialled');
  t.same(ask(pod, '10.202.0.2', 9090), { address: '10.202.0.2', port: 9090, family: 4 }, 'outbound IPv4: the remote address and port the app dialled');
  t.same(ask(pod, '10.202.0.2', 9091), { address: '10.202.0.2', port: 9091, family: 4 }, 'outbound IPv4 on an IPv4-only listener');
  if (ipv6) {
    t.same(ask(client, 'fd00:201::2', 8080), { address: 'fd00:201::2', port: 8080, family: 6 }, 'inbound IPv6');
    t.same(ask(pod, 'fd00:202::2', 9090), { address: 'fd00:202::2', port: 9090, family: 6 }, 'outbound IPv6');
  } else {
    t.comment('ip6tables nat is not available here: IPv6 cases skipped');
  }
  // conntrack answers SO_ORIGINAL_DST with the capture port itself here; following it would loop.
  t.match(ask(client, '10.201.0.2', 15006), { code: 'FL_ERR_NOT_REDIRECTED', message: /capture port itself/ }, 'a connection made straight to the capture port is refused, not looped into itself');
  t.match(ask(pod, '127.0.0.1', 15001), { code: 'FL_ERR_NOT_REDIRECTED' }, 'also over loopback');
  for (const server of [dual, v4]) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
});
