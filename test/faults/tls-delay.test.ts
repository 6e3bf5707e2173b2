import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { tlsDelay } from '../../src/faults/tls-delay.js';
import { startSidecar } from '../helpers/sidecar.js';
import { httpsUpstream, tlsFlags, tlsWorld } from '../helpers/tls.js';

t.test('options: delay, jitter, phase clienthello by default', async (t) => {
  t.same(tlsDelay.options.parse({ delay: '1s' }), { delay: 1000, phase: 'clienthello' });
  t.notOk(tlsDelay.options.safeParse({ delay: '1s', phase: 'finished' }).success);
  const holds: [number, string | undefined][] = [];
  const handshake = { hold: (ms: number, phase?: string) => void holds.push([ms, phase]), reject: () => {}, present: () => {} };
  tlsDelay.handshake?.(tlsDelay.options.parse({ delay: 100, jitter: 50, phase: 'serverhello' }), handshake, () => 1);
  tlsDelay.handshake?.(tlsDelay.options.parse({ delay: 100, jitter: 50 }), handshake, () => 0);
  t.same(holds, [[150, 'serverhello'], [50, 'clienthello']], 'delay ± jitter, drawn per connection');
});

/** A TLS handshake through the sidecar: ms until it completed. */
function handshakeMs(port: number, servername: string, ca: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca }, () => {
      resolve(performance.now() - started);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

const within = (ms: number, delay: number) => ms >= delay - 1 && ms < delay + 150;

t.test('clienthello holds the hello before the upstream sees it; serverhello holds the upstream\'s answer; with termination, faultline\'s own', async (t) => {
  const world = tlsWorld(t);
  const { port: up, server } = await httpsUpstream(t, world.credentials);
  let accepted = 0;
  server.on('connection', () => (accepted = performance.now()));
  const { port } = await startSidecar(t, up, `    - {name: slow-hello, match: {listener: up, sni: api.example.com}, faults: [{type: tls_delay, delay: 200ms}]}
    - {name: slow-answer, match: {listener: up, sni: other.example.org}, faults: [{type: tls_delay, delay: 200ms, phase: serverhello}]}
    - {name: slow-terminated, match: {listener: up, sni: app.example.net}, tls: terminate, faults: [{type: tls_delay, delay: 200ms}]}`, { tls: tlsFlags(world) });
  const ca = world.upstreamCa.cert;

  let started = performance.now();
  const hello = await handshakeMs(port, 'api.example.com', ca);
  t.ok(within(hello, 200), `clienthello: the handshake took ${hello.toFixed(0)} ms (≈ 200)`);
  t.ok(accepted - started >= 199, `the upstream was dialled ${(accepted - started).toFixed(0)} ms in, once the hello was let go`);

  started = performance.now();
  const answer = await handshakeMs(port, 'other.example.org', ca);
  t.ok(within(answer, 200), `serverhello: the handshake took ${answer.toFixed(0)} ms (≈ 200)`);
  t.ok(accepted - started < 100, `the upstream was dialled at once (${(accepted - started).toFixed(0)} ms)`);

  const terminated = await handshakeMs(port, 'app.example.net', world.appCa.cert);
  t.ok(within(terminated, 200), `terminated: faultline's handshake took ${terminated.toFixed(0)} ms (≈ 200)`);
});
