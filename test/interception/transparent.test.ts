import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sleep } from '../helpers/net.js';
import { canUseNetns, echoProbe, nsExec, nsSpawn, threeHosts } from '../helpers/netns.js';
import { BIN } from '../helpers/process.js';
import { policyText, tempDir } from '../helpers/sidecar.js';

const skip = canUseNetns();
const ECHO = (host: string, ports: number[]) =>
  `const net = require('net'); for (const p of ${JSON.stringify(ports)}) net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(p, '${host}');`;

t.test('transparent interception in network namespaces', { skip }, async (t) => {
  const { client, pod, remote } = threeHosts(t);
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    policyText({
      listeners: [],
      rules: `    - name: inbound-slow
      match: {direction: inbound, ports: [8080]}
      faults: [{type: latency, latency: 100ms}]
    - name: outbound-slow
      match: {direction: outbound, destinations: ["10.202.0.2/32"]}
      faults: [{type: latency, latency: 150ms}]`,
    }),
  );
  chmodSync(policy, 0o644);

  nsSpawn(t, remote, [process.execPath, '-e', ECHO('10.202.0.2', [9090])]);
  nsSpawn(t, pod, [process.execPath, '-e', ECHO('0.0.0.0', [8080, 8081])]);
  const applied = nsExec(pod, [process.execPath, BIN, 'iptables', '--exclude-inbound-ports', '8081']);
  t.match(applied, /interception rules applied/);
  const sidecar = nsSpawn(
    t,
    pod,
    ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, BIN, 'sidecar', '--policy', policy, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '0.0.0.0:15020'],
    { FAULTLINE_LOG_LEVEL: 'info', HOME: '/tmp' },
  );
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    await sleep(100);
    try {
      ready = nsExec(pod, ['curl', '-sf', 'http://127.0.0.1:15020/readyz']).includes('ready');
    } catch {
      // not yet
    }
  }
  t.ok(ready, `the sidecar is ready as UID 1337 (${ready ? 'ok' : sidecar.output()})`);

  const inbound = echoProbe(client, '10.201.0.2', 8080);
  t.ok('medianMs' in inbound && inbound.medianMs >= 95 && inbound.medianMs < 200, `the client sees the inbound fault (${JSON.stringify(inbound)})`);
  const excluded = echoProbe(client, '10.201.0.2', 8081);
  t.ok('medianMs' in excluded && excluded.medianMs < 50, `an excluded inbound port is untouched (${JSON.stringify(excluded)})`);
  const outbound = echoProbe(pod, '10.202.0.2', 9090);
  t.ok('medianMs' in outbound && outbound.medianMs >= 145 && outbound.medianMs < 260, `the app's call to the remote sees the outbound fault (${JSON.stringify(outbound)})`);
  const loopback = echoProbe(pod, '127.0.0.1', 8080);
  t.ok('medianMs' in loopback && loopback.medianMs < 50, `loopback is untouched (${JSON.stringify(loopback)})`);

  const metrics = nsExec(pod, ['curl', '-sf', 'http://127.0.0.1:15020/metrics']);
  const count = (direction: string) => Number(new RegExp(`faultline_connections_total\\{listener="${direction}",direction="${direction}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  t.equal(count('inbound'), 1, 'one inbound connection captured (the excluded port and loopback were not)');
  t.equal(count('outbound'), 1, "one outbound connection: the sidecar's own upstream connections are not looped back into it");

  nsExec(pod, [process.execPath, BIN, 'iptables', '--exclude-inbound-ports', '8081']);
  const twice = nsExec(pod, ['iptables-save', '-t', 'nat']);
  t.equal(twice.match(/-j FAULTLINE_INBOUND/g)?.length, 1, 'applying twice adds the jumps once');
  nsExec(pod, [process.execPath, BIN, 'iptables', '--cleanup']);
  t.notMatch(nsExec(pod, ['iptables-save', '-t', 'nat']), /FAULTLINE/, '--cleanup removes every rule and chain');
  const direct = echoProbe(client, '10.201.0.2', 8080);
  t.ok('medianMs' in direct && direct.medianMs < 50, 'after cleanup the client reaches the app directly');
});

t.test('transparent mode refuses to start without the native helper', async (t) => {
  const { loadOriginalDstHelper } = await import('../../src/interception/original-dst.js');
  t.throws(() => loadOriginalDstHelper('/nonexistent/original_dst.node'), { code: 'FL_ERR_NATIVE_HELPER_MISSING', message: /node-gyp rebuild --directory sidecar\/native/ });
});
