import t from 'tap';
import { Progress } from '../../src/experiments/progress.js';

const sink = (isTTY: boolean) => {
  const chunks: string[] = [];
  return { out: { isTTY, write: (text: string) => (chunks.push(text), true) }, chunks };
};

t.test('plain lines when not a TTY: events, and a probe summary every 5 s', async (t) => {
  const { out, chunks } = sink(false);
  const p = new Progress(out);
  p.event({ t: 1234, type: 'apply', message: 'slow: applied' });
  for (let i = 0; i <= 12; i++) p.sample({ probe: 'web', t: i * 1000, ok: i !== 3, latencyMs: 12.3 });
  p.end();
  t.same(chunks, [
    '[   1.2s] apply     slow: applied\n',
    '[   5.0s] probes    web ok 12ms 83.3%\n',
    '[  10.0s] probes    web ok 12ms 90.9%\n',
  ]);
});

t.test('a redrawn status line on a TTY, events printed above it; quiet keeps verdicts only', async (t) => {
  const { out, chunks } = sink(true);
  const p = new Progress(out);
  p.sample({ probe: 'web', t: 500, ok: false, latencyMs: 3, error: 'ECONNREFUSED' });
  p.event({ t: 600, type: 'abort', message: 'probe web failed' });
  p.end();
  t.same(chunks, ['\r\x1b[2K[   0.5s] web FAIL 3ms 0.0%', '\r\x1b[2K[   0.6s] abort     probe web failed\n[   0.5s] web FAIL 3ms 0.0%', '\r\x1b[2K']);
  const quiet = sink(false);
  const q = new Progress(quiet.out, true);
  q.event({ t: 0, type: 'apply', message: 'x' });
  q.sample({ probe: 'web', t: 0, ok: true, latencyMs: 1 });
  q.event({ t: 0, type: 'verdict', message: 'passed' });
  t.same(quiet.chunks, ['[   0.0s] verdict   passed\n']);
});
