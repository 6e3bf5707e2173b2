import t from 'tap';
import { canUseNetns, echoProbe, nsExec, nsSpawn } from '../helpers/netns.js';
import { fast, podFixture, until } from '../helpers/on-demand.js';
import { withinBinomial } from '../helpers/udp.js';

const skip = canUseNetns();

/** A TCP sink (reads and discards) on 9092, a source (sends 1 MB) on 9093 and a UDP echo on 9091, in the remote namespace. */
const SERVERS = `
const net = require('net'), dgram = require('dgram');
net.createServer((s) => { s.on('error', () => {}); s.resume(); s.on('end', () => s.end()); }).listen(9092, '10.202.0.2');
net.createServer((s) => { s.on('error', () => {}); s.resume(); s.end(Buffer.alloc(1000000)); }).listen(9093, '10.202.0.2');
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(m, r.port, r.address)); u.bind(9091, '10.202.0.2');`;

/** Run in the pod: send `amount` bytes over TCP to the sink, read 1 MB from the source, or send `amount` UDP datagrams to the echo. */
const CLIENT = (mode: 'upload' | 'download' | 'udp', amount: number, timeoutMs = 60_000) => `
const net = require('net'), dgram = require('dgram');
const started = Date.now();
if ('${mode}' !== 'udp') {
  const s = '${mode}' === 'upload' ? net.connect(9092, '10.202.0.2', () => s.end(Buffer.alloc(${amount}))) : net.connect(9093, '10.202.0.2');
  s.resume();
  s.setTimeout(${timeoutMs}, () => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); });
  s.on('close', () => { console.log(JSON.stringify({ ms: Date.now() - started })); process.exit(0); });
  s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
} else {
  const u = dgram.createSocket('udp4');
  let echoed = 0, seq = 0;
  u.on('message', () => echoed++);
  const tick = () => {
    for (let i = 0; i < 20 && seq < ${amount}; i++, seq++) u.send(Buffer.alloc(64), 9091, '10.202.0.2');
    if (seq < ${amount}) return setTimeout(tick, 1);
    setTimeout(() => { console.log(JSON.stringify({ sent: seq, echoed })); process.exit(0); }, 500);
  };
  tick();
}`;

/** TCP segments a namespace's kernel retransmitted so far (absolute, no nstat history file involved). */
const retransmissions = (ns: string) => Number(/TcpRetransSegs\s+(\d+)/.exec(nsExec(ns, ['nstat', '-asz', 'TcpRetransSegs']))?.[1] ?? NaN);

t.test('packet_loss 20%: netfilter drops exactly the matched peers\' packets, TCP retransmits, UDP loses; removed with the rule', { skip }, async (t) => {
  const f = podFixture(t);
  nsSpawn(t, f.remote, [process.execPath, '-e', SERVERS]);
  f.write(undefined);
  await f.start(t);
  const run = (mode: 'upload' | 'download' | 'udp', amount: number, timeoutMs?: number) => JSON.parse(f.inPod([process.execPath, '-e', CLIENT(mode, amount, timeoutMs)]).trim()) as Record<string, number>;

  // Without loss: the fewest retransmissions of up to three downloads (a loaded machine can
  // starve the namespaces long enough for a spurious timeout or two).
  let baseline = Infinity;
  for (let i = 0; i < 3 && baseline >= 20; i++) {
    const base = retransmissions(f.remote);
    t.match(run('download', 0), { ms: Number }, 'without loss, the pod reads 1 MB from the remote');
    baseline = Math.min(baseline, retransmissions(f.remote) - base);
  }
  t.ok(baseline < 20, `and the remote's TCP retransmits next to nothing (${baseline} segments)`);
  t.match(run('udp', 1000), { sent: 1000, echoed: 1000 }, 'every UDP datagram is echoed');

  f.write(`    - name: lossy
      match: {direction: outbound, destinations: ["10.202.0.2/32"], ports: [9091, 9092, 9093]}
      faults: [{type: packet_loss, probability: 0.2}]`);
  t.ok(await until(() => /FAULTLINE_LOSS_OUT/.test(f.filter())), 'the rule installs loss rules');
  const filter = f.filter();
  t.match(filter, /^-A FAULTLINE_LOSS_OUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctorigdst 10\.202\.0\.2 --ctorigdstport 9092 --ctdir ORIGINAL -m statistic --mode random --probability 0\.2\d* -j DROP$/m, 'outgoing: the pod\'s packets to that peer and port (not its SYNs), by netfilter\'s statistic match');
  t.match(filter, /^-A FAULTLINE_LOSS_IN -p udp -m conntrack --ctorigdst 10\.202\.0\.2 --ctorigdstport 9091 --ctdir REPLY -m statistic/m, 'incoming: the replies (stream both)');
  t.match(filter, /^-A FAULTLINE_LOSS_IN -i lo -j RETURN$/m, 'loopback is never touched');
  t.notMatch(f.nat(), /FAULTLINE/, 'packet_loss alone needs no redirect through the sidecar');
  t.match(f.admin('GET', '/policy').json?.interception, { loss: [{ direction: 'outbound', destination: '10.202.0.2/32', ports: [9091, 9092, 9093], probability: 0.2, streams: ['upstream', 'downstream'] }] });

  // 20% loss both ways can leave a download's TCP backing off for a minute (its retransmission
  // timer doubles with each loss of the same segment), and how many segments it resends varies
  // with how the kernel batched them: up to three downloads of 20 s each, until one arrived and
  // the retransmissions of all of them add up.
  let arrived: number | undefined;
  let retrans = 0;
  for (let i = 0; i < 3 && (arrived === undefined || retrans <= 50 + baseline * 5); i++) {
    const before = retransmissions(f.remote);
    const { ms } = run('download', 0, 20_000);
    retrans += retransmissions(f.remote) - before;
    arrived ??= ms;
  }
  t.type(arrived, 'number', `1 MB still arrives, in ${arrived} ms`);
  t.ok(retrans > 50 + baseline * 5, `the remote's TCP really retransmits what the pod's kernel dropped: ${retrans} segments (${baseline} without loss)`);
  // The pod's own packets dropped on their way out are reported to its TCP by its kernel (a
  // local send error): it backs off and sends again rather than counting retransmissions.
  const upload = run('upload', 300_000);
  t.match(upload, { ms: Number }, `an upload of 300 kB arrives, in ${upload.ms} ms`);
  const n = 2000;
  const udp = run('udp', n);
  // Each datagram and its echo cross the loss once each: 0.8 × 0.8 come back.
  t.ok(withinBinomial(udp.echoed as number, n, 0.64), `${udp.echoed} of ${n} datagrams echoed (p = 0.64, 99.999% interval ±${Math.round(4.5 * Math.sqrt(n * 0.64 * 0.36))})`);
  t.ok(fast(echoProbe(f.pod, '10.202.0.2', 9090)), 'another port of the peer is not touched');

  f.write(undefined);
  t.ok(await until(() => !/FAULTLINE_LOSS/.test(f.filter())), 'removing the rule removes the loss rules');
  t.notMatch(f.filter(), /FAULTLINE/, 'every one of them');
  t.match(run('udp', 1000), { sent: 1000, echoed: 1000 }, 'and nothing is lost any more');
});
