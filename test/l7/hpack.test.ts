import { connect, createServer, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { encodeBlock, HpackDecoder, HpackError, readInt } from '../../src/l7/hpack.js';
import { HUFFMAN_CODES, huffmanDecode, huffmanEncode } from '../../src/l7/hpack-huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: string[]) => Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]);

t.test('RFC 7541 C.1: integers with a prefix', async (t) => {
  const at = (p: number) => ({ p });
  const c = at(0);
  t.equal(readInt(Buffer.from([0b00001010]), c, 5), 10);
  t.equal(c.p, 1);
  const d = at(0);
  t.equal(readInt(Buffer.from([0b00011111, 0b10011010, 0b00001010]), d, 5), 1337);
  t.equal(d.p, 3);
  t.equal(readInt(Buffer.from([42]), at(0), 8), 42);
  t.throws(() => readInt(Buffer.from([0x1f, 0xff]), at(0), 5), HpackError, 'truncated');
  t.throws(() => readInt(Buffer.from([0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), at(0), 5), HpackError, 'too large');
});

t.test('RFC 7541 C.2: single fields', async (t) => {
  const d = new HpackDecoder();
  const a = d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  t.same(pairs(a.fields), [['custom-key', 'custom-header']]);
  t.ok(a.changedTable, 'incremental indexing changes the table');
  const b = new HpackDecoder().decode(hex('040c 2f73 616d 706c 652f 7061 7468'));
  t.same(pairs(b.fields), [[':path', '/sample/path']]);
  t.notOk(b.changedTable);
  t.same(pairs(new HpackDecoder().decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).fields), [['password', 'secret']]);
  t.same(pairs(new HpackDecoder().decode(hex('82')).fields), [[':method', 'GET']]);
  // The entry C.2.1 added is dynamic index 62.
  t.same(pairs(d.decode(hex('be')).fields), [['custom-key', 'custom-header']]);
});

const REQUESTS = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];

t.test('RFC 7541 C.3 and C.4: three requests, without and with Huffman', async (t) => {
  for (const [label, blocks] of [
    ['C.3', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['C.4', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ] as const) {
    const d = new HpackDecoder();
    blocks.forEach((block, i) => t.same(pairs(d.decode(hex(block)).fields), REQUESTS[i], `${label}.${i + 1}`));
  }
});

const RESPONSES = [
  [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [
    [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ],
];

t.test('RFC 7541 C.5 and C.6: three responses in a 256-octet table (evictions), without and with Huffman', async (t) => {
  for (const [label, blocks] of [
    [
      'C.5',
      [
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ],
    ],
    [
      'C.6',
      [
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ],
    ],
  ] as const) {
    const d = new HpackDecoder(256);
    d.decode(Buffer.from([0x3f, 0xe1, 0x01])); // a size update to 256
    blocks.forEach((block, i) => t.same(pairs(d.decode(hex(block)).fields), RESPONSES[i], `${label}.${i + 1}`));
  }
});

t.test('Huffman: the canonical codes, every octet both ways, invalid strings refused', async (t) => {
  t.equal(HUFFMAN_CODES[0], 0x1ff8, 'octet 0');
  t.equal(HUFFMAN_CODES[48], 0x0, "'0'");
  t.equal(HUFFMAN_CODES[255], 0x3ffffee, 'octet 255');
  t.equal(HUFFMAN_CODES[256], 0x3fffffff, 'EOS');
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  const coded = huffmanEncode(all + all.split('').reverse().join(''));
  t.equal(huffmanDecode(coded, 0, coded.length), all + all.split('').reverse().join(''));
  t.same(huffmanEncode('www.example.com'), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
  t.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), 'EOS decoded');
  t.throws(() => huffmanDecode(Buffer.from([0x00]), 0, 1), 'padding of zeros');
  t.throws(() => huffmanDecode(Buffer.from([0xf1, 0xff]), 0, 2), 'padding of 8 ones or more');
});

t.test('decoder limits and malformed blocks: HpackError, never another error', async (t) => {
  t.throws(() => new HpackDecoder().decode(hex('80')), HpackError, 'index 0');
  t.throws(() => new HpackDecoder().decode(hex('c0')), HpackError, 'a dynamic index beyond the table');
  t.throws(() => new HpackDecoder().decode(hex('82 3f e1 1f')), HpackError, 'size update after a field');
  t.throws(() => new HpackDecoder(4096).decode(hex('3f e1 3f')), HpackError, 'size update over the setting');
  t.throws(() => new HpackDecoder().decode(hex('040c 2f73')), HpackError, 'truncated string');
  t.throws(() => new HpackDecoder(4096, 100).decode(encodeBlock(['x-big', 'v'.repeat(100)])), HpackError, 'header list over the cap');
  // An entry bigger than the table empties it and is not added.
  const d = new HpackDecoder(64);
  d.decode(hex('3f21')); // size 64
  d.decode(encodeWithIndexing('a', 'b'));
  d.decode(encodeWithIndexing('long-name', 'v'.repeat(40)));
  t.throws(() => d.decode(hex('be')), HpackError, 'the table was emptied');
  // Random bytes: only HpackError.
  let unexpected = 0;
  for (let i = 0; i < 5000; i++) {
    const block = Buffer.from(Array.from({ length: 1 + (i % 40) }, () => Math.floor(Math.random() * 256)));
    try {
      new HpackDecoder().decode(block);
    } catch (err) {
      if (!(err instanceof HpackError)) unexpected++;
    }
  }
  t.equal(unexpected, 0);
});

function encodeWithIndexing(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

t.test('encoder: static references and literals without indexing; the receiver table is untouched', async (t) => {
  const fields = [':status', '200', 'content-type', 'application/grpc', 'x-long', 'y'.repeat(300), ':path', '/a/b'];
  const block = encodeBlock(fields, [0]);
  t.equal(block[0], 0x20, 'the size update first');
  t.equal(block[1], 0x88, ':status 200 is static index 8');
  const d = new HpackDecoder();
  const decoded = d.decode(block);
  t.same(decoded.fields, fields);
  t.same(decoded.sizeUpdates, [0]);
  t.notOk(encodeBlock(fields).length === 0);
  t.notOk(d.decode(encodeBlock(fields)).changedTable, 'literals without indexing leave the table as it was');
});

/** The header blocks node:http2 (nghttp2) writes, read from the wire: HEADERS payloads in order. */
async function nghttp2Blocks(t: Test, requests: Record<string, string>[]): Promise<Buffer[]> {
  const tcp = createTcpServer();
  const received: Buffer[] = [];
  tcp.on('connection', (s) => s.on('data', (d: Buffer) => received.push(d)));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => tcp.close());
  const session = connect(`http://127.0.0.1:${(tcp.address() as AddressInfo).port}`, { settings: { enablePush: false } });
  session.on('error', () => {});
  for (const headers of requests) session.request(headers, { endStream: true }).on('error', () => {});
  await new Promise((r) => setTimeout(r, 300));
  session.destroy();
  const wire = Buffer.concat(received).subarray(24);
  const blocks: Buffer[] = [];
  for (let p = 0; p + 9 <= wire.length; ) {
    const length = wire.readUIntBE(p, 3);
    const type = wire[p + 3];
    const flags = wire[p + 4] as number;
    let payload = wire.subarray(p + 9, p + 9 + length);
    if (type === 1) {
      if (flags & 0x8) payload = payload.subarray(1, payload.length - (payload[0] as number));
      if (flags & 0x20) payload = payload.subarray(5);
      blocks.push(payload);
    }
    p += 9 + length;
  }
  return blocks;
}

t.test('against nghttp2: what node:http2 encodes (Huffman, dynamic table) decodes to what it was given', async (t) => {
  const requests = Array.from({ length: 30 }, (_, i) => ({ ':path': `/p/${i % 5}?q=${'é'.length}${i}`, 'x-user': `user-${i % 3}`, 'x-trace': `${i % 5}`.repeat(20), cookie: 'a=b; c=d' }));
  const blocks = await nghttp2Blocks(t, requests);
  t.equal(blocks.length, 30);
  const d = new HpackDecoder();
  let changed = 0;
  blocks.forEach((block, i) => {
    const decoded = d.decode(block);
    if (decoded.changedTable) changed++;
    const map = Object.fromEntries(pairs(decoded.fields).filter(([n]) => n !== 'cookie'));
    t.match(map, { ':path': requests[i]?.[':path'], 'x-user': requests[i]?.['x-user'], 'x-trace': requests[i]?.['x-trace'], ':method': 'GET' }, `block ${i}`);
  });
  t.ok(changed >= 1 && changed < 30, `nghttp2 indexed fields, then referred to them (${changed} blocks changed the table)`);
});

t.test('against nghttp2: a block this encoder wrote is what a node:http2 server receives', async (t) => {
  const server = createServer();
  const got = new Promise<Record<string, unknown>>((resolve) => server.on('stream', (s: ServerHttp2Stream, h) => (resolve(h), s.respond({ ':status': 204 }), s.end())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const socket = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const block = encodeBlock([':method', 'POST', ':scheme', 'http', ':path', '/x', ':authority', 'h', 'content-type', 'application/grpc', 'x-v', 'café']);
  const frame = (type: number, flags: number, id: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(id, 5);
    return Buffer.concat([head, payload]);
  };
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x5, 1, block)]));
  const headers = await got;
  t.match(headers, { ':method': 'POST', ':path': '/x', 'content-type': 'application/grpc', 'x-v': 'café' }, 'node:http2 reads values as latin1, as the encoder writes them');
});
