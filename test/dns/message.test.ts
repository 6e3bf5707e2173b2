import * as dnsPacket from 'dns-packet';
import t from 'tap';
import { addressAnswer, errorAnswer, formatError, readMessage, responseRcode, truncatedAnswer } from '../../src/dns/message.js';
import { DnsFramer, frame } from '../../src/dns/tcp-framing.js';

const query = (questions: dnsPacket.Question[], extra: Partial<dnsPacket.Packet> = {}) => dnsPacket.encode({ type: 'query', id: 42, flags: dnsPacket.RECURSION_DESIRED, questions, ...extra });

t.test('readMessage: what a message is, read by dns-packet', async (t) => {
  t.match(readMessage(query([{ type: 'A', name: 'API.Example.com.' }]), 'udp'), { kind: 'query', question: { name: 'api.example.com', type: 'A', transport: 'udp' } });
  t.match(readMessage(query([{ type: 'UNKNOWN_65' as dnsPacket.RecordType, name: 'x.test' }]), 'tcp'), { kind: 'query', question: { type: 'HTTPS', transport: 'tcp' } }, 'HTTPS (65), which dns-packet does not name');
  t.same(readMessage(query([]), 'udp'), { kind: 'other' }, 'no question: forwarded as is');
  t.same(readMessage(query([{ type: 'A', name: 'a.test' }, { type: 'A', name: 'b.test' }]), 'udp'), { kind: 'other' }, 'two questions: forwarded as is');
  const notify = query([{ type: 'SOA', name: 'zone.test' }]);
  notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
  t.same(readMessage(notify, 'udp'), { kind: 'other' }, 'another opcode (NOTIFY): forwarded as is');
  t.same(readMessage(dnsPacket.encode({ type: 'response', id: 1 }), 'udp'), { kind: 'ignored' }, 'a response: ignored');
  t.same(readMessage(Buffer.from([1, 2, 3]), 'udp'), { kind: 'ignored' }, 'no full header: ignored');
  const broken = Buffer.concat([query([]).subarray(0, 12), Buffer.from([5, 0x61])]);
  broken.writeUInt16BE(1, 4);
  t.same(readMessage(broken, 'udp'), { kind: 'malformed', id: 42 }, 'undecodable query: malformed, with its id');
  broken.writeUInt16BE(0x8000, 2);
  t.same(readMessage(broken, 'udp'), { kind: 'ignored' }, 'undecodable with QR set: ignored');
});

t.test('answers: error rcodes, FORMERR, truncated, addresses', async (t) => {
  const read = readMessage(query([{ type: 'AAAA', name: 'api.example.com' }], { flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED }), 'udp');
  if (read.kind !== 'query') throw new Error('not a query');
  const err = dnsPacket.decode(errorAnswer(read.packet, 'REFUSED')) as dnsPacket.DecodedPacket & { rcode: string };
  t.match(err, { id: 42, type: 'response', rcode: 'REFUSED', flag_rd: true, flag_cd: true, flag_ra: true, questions: [{ name: 'api.example.com', type: 'AAAA' }], answers: [] });
  t.equal(responseRcode(errorAnswer(read.packet, 'NXDOMAIN')), 'NXDOMAIN');
  t.equal(responseRcode(Buffer.from('junk')), 'unknown');
  t.match(dnsPacket.decode(formatError(7)), { id: 7, rcode: 'FORMERR', questions: [] });
  t.match(dnsPacket.decode(truncatedAnswer(read.packet)), { flag_tc: true, rcode: 'NOERROR', answers: [] });
  t.match(dnsPacket.decode(addressAnswer(read.packet, read.question, ['2001:db8::1'], 30)), { answers: [{ type: 'AAAA', name: 'api.example.com', ttl: 30, data: '2001:db8::1' }] });
});

t.test('TCP framing: two-byte lengths, split anywhere; a zero length breaks the stream', async (t) => {
  const got: string[] = [];
  const framer = new DnsFramer((m) => got.push(m.toString()));
  const bytes = Buffer.concat([frame(Buffer.from('hello')), frame(Buffer.from('world!'))]);
  for (const b of bytes) t.ok(framer.push(Buffer.from([b])));
  t.same(got, ['hello', 'world!']);
  t.notOk(framer.push(Buffer.from([0, 0])), 'zero length: broken');
});
