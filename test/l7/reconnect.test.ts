import t from 'tap';
import { plainKind, ReconnectStage, wholeFrames } from '../../src/l7/reconnect.js';

const ctx = { conn: { id: 'c', reset: () => {}, close: () => {} }, direction: 'downstream' as const, state: {}, random: Math.random };

/** Writes `chunks` through a stage of `kind`; resolves with what came out, and whether it finished. */
async function through(kind: 'http1' | 'h2', chunks: Buffer[], waitMs = 0): Promise<{ out: string; done: boolean }> {
  let done = false;
  const stage = new ReconnectStage(kind, ctx, () => (done = true));
  const out: Buffer[] = [];
  stage.on('data', (c: Buffer) => out.push(c));
  for (const c of chunks) stage.write(c);
  await new Promise((r) => setTimeout(r, waitMs + 10));
  stage.destroy();
  return { out: Buffer.concat(out).toString('latin1'), done };
}

t.test('HTTP/1.1: connection: close goes into the next response head, once; a 101 or a body chunk is left alone', async (t) => {
  const two = await through('http1', [Buffer.from('partial body'), Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'), Buffer.from('HTTP/1.1 200 OK\r\n\r\n')]);
  t.equal(two.out, 'partial bodyHTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n');
  t.ok(two.done);
  const upgraded = await through('http1', [Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'), Buffer.from('HTTP/1.1 200 OK\r\n\r\n')]);
  t.notMatch(upgraded.out, /connection: close/, 'after a 101 the bytes are not HTTP any more');
});

t.test('HTTP/2: GOAWAY after a chunk of whole frames, or after a quiet spell; never inside a frame', async (t) => {
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
  const whole = await through('h2', [settings]);
  t.same([...Buffer.from(whole.out, 'latin1').subarray(9)], goaway, 'GOAWAY right after the whole frame');
  const cut = await through('h2', [Buffer.from([0, 0, 10, 0, 0, 0, 0, 0, 1, 1, 2])]);
  t.equal(cut.out.length, 11, 'a frame cut short gets nothing after it at once');
  const quiet = await through('h2', [], 150);
  t.same([...Buffer.from(quiet.out, 'latin1')], goaway, 'an idle connection gets GOAWAY after 100 ms of quiet');
  t.ok(wholeFrames(Buffer.concat([settings, settings])));
  t.notOk(wholeFrames(Buffer.from([0, 0, 0, 0x20, 0, 0, 0, 0, 0])), 'unknown frame type');
  t.notOk(wholeFrames(Buffer.alloc(0)));
});

t.test('plainKind tells HTTP/1.x and h2c from anything else', async (t) => {
  t.equal(plainKind(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  t.equal(plainKind(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  t.equal(plainKind(Buffer.from([0x16, 0x03, 0x01])), 'other');
  t.equal(plainKind(Buffer.from('GE')), 'other');
});
