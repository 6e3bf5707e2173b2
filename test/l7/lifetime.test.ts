import { spawn } from 'node:child_process';
import { connect } from 'node:http2';
import t from 'tap';
import { h2Upstream, httpUpstream } from '../helpers/http.js';
import { dial, sleep, waitFor } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';

const L7_RULE = `    - name: any-http
      match: {listener: up, http: {paths: ["/never"]}}
      faults: [{type: http_abort, status: 503}]`;

/** A client process that makes one h2c request, then is killed (no GOAWAY, the kernel closes its socket). */
function killedClient(port: number): Promise<void> {
  const code = `const s=require('node:http2').connect('http://127.0.0.1:${port}');const r=s.request({':path':'/'});r.on('response',()=>process.stdout.write('ok\\n'));r.resume();`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error('no response'))), 10_000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      child.kill('SIGKILL');
    });
    child.once('exit', () => resolve());
  });
}

t.test('an h2c client killed without GOAWAY: its connection and both sockets are gone within a second', async (t) => {
  const up = await h2Upstream(t);
  const { sidecar, port } = await startSidecar(t, up.port, L7_RULE);
  let gone = 0;
  for (let i = 0; i < 20; i++) {
    await killedClient(port);
    if (await waitFor(() => sidecar.connections.size === 0 && up.sessions.size === 0, 1000)) gone++;
  }
  t.equal(gone, 20, '20 of 20 connections gone within 1 s, upstream sessions too');
});

/** Timers alive in this process now. */
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

t.test('a connection closed in the middle of an http_delay leaves no timer behind', async (t) => {
  const { port: up } = await httpUpstream(t);
  const h2 = await h2Upstream(t);
  const rule = `    - name: slow
      match: {listener: up, http: {paths: ["/slow"]}}
      faults: [{type: http_delay, delay: 60s}]`;
  const http1 = await startSidecar(t, up, rule);
  const http2 = await startSidecar(t, h2.port, rule);
  await sleep(100);
  const before = timers();
  for (let i = 0; i < 5; i++) {
    const socket = await dial(t, http1.port);
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    const session = connect(`http://127.0.0.1:${http2.port}`);
    session.on('error', () => {});
    session.request({ ':path': '/slow' }).on('error', () => {}).end();
    await sleep(100);
    socket.resetAndDestroy();
    session.destroy();
  }
  t.ok(await waitFor(() => http1.sidecar.connections.size === 0 && http2.sidecar.connections.size === 0, 2000), 'the connections closed');
  t.ok(await waitFor(() => timers() <= before, 1000), `no timer outlives its connection (${timers()} now, ${before} before)`);
});
