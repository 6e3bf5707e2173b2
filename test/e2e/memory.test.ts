import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { dial, tcpServer } from '../helpers/net.js';
import { listenerPort, startDaemon } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

t.test('a fast sender behind a 1 MiB/s cap: the sidecar pushes back instead of buffering', async (t) => {
  const GiB = 1024 ** 3;
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = i % 253;
  let sent = 0;
  // The upstream tries to send 1 GiB as fast as the socket lets it.
  const { port: upstream } = await tcpServer(t, (socket) => {
    const pump = () => {
      while (sent < GiB && !socket.destroyed) {
        sent += block.length;
        if (!socket.write(block)) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(
    file,
    policyText({
      listeners: [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}"}`],
      rules: '    - {name: cap, match: {listener: up}, faults: [{type: bandwidth, rate: 1MiB/s}]}',
    }),
  );
  const daemon = startDaemon(t, ['sidecar', '--policy', file, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'info' });
  const port = await listenerPort(daemon, 'up');
  const before = daemon.rssKiB();
  const socket = await dial(t, port);
  let received = 0;
  let corrupt = false;
  socket.on('data', (chunk: Buffer) => {
    for (let i = 0; i < chunk.length; i += 997) if (chunk[i] !== ((received + i) % block.length) % 253) corrupt = true;
    received += chunk.length;
  });
  let peak = before;
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    peak = Math.max(peak, daemon.rssKiB());
  }
  socket.destroy();
  const growthMiB = (peak - before) / 1024;
  t.ok(growthMiB < 64, `RSS grew by ${growthMiB.toFixed(1)} MiB over 10 s (limit 64)`);
  const rate = received / 10 / 1024 / 1024;
  t.ok(rate > 0.85 && rate < 1.15, `the client got ${rate.toFixed(2)} MiB/s`);
  t.ok(sent < 64 * 1024 * 1024, `the upstream could only send ${(sent / 1024 / 1024).toFixed(1)} MiB of its 1 GiB`);
  t.notOk(corrupt, 'the bytes that arrived are the right ones');
});
