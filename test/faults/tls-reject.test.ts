import t from 'tap';
import { tlsReject, TLS_ALERTS } from '../../src/faults/tls-reject.js';
import { tcpServer } from '../helpers/net.js';
import { startSidecar } from '../helpers/sidecar.js';
import { curl, grpcTls, nodeHttp2, nodeHttps, nodeTls, opensslClient, undici, type Target } from '../helpers/tls-clients.js';
import { httpsUpstream, makeCa, serverCertificate } from '../helpers/tls.js';

t.test('options: alert names, handshake_failure by default; an unknown alert is refused', async (t) => {
  t.same(tlsReject.options.parse({}), { alert: 'handshake_failure' });
  t.equal(TLS_ALERTS.unrecognized_name, 112);
  t.notOk(tlsReject.options.safeParse({ alert: 'no_such_alert' }).success);
});

// Each alert as real clients report it; the upstream is never dialled.
const ALERTS: [string, { node: string; curl: RegExp; openssl: RegExp; grpc: RegExp }][] = [
  ['handshake_failure', { node: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', curl: /curl: \(35\) .*sslv3 alert handshake failure/, openssl: /sslv3 alert handshake failure.*SSL alert number 40/, grpc: /^14 No connection established.*alert handshake failure/ }],
  ['protocol_version', { node: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', curl: /tlsv1 alert protocol version/, openssl: /SSL alert number 70/, grpc: /^14 .*alert protocol version/ }],
  ['unrecognized_name', { node: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', curl: /tlsv1 unrecognized name/, openssl: /SSL alert number 112/, grpc: /^14 .*unrecognized name/ }],
  ['internal_error', { node: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR', curl: /tlsv1 alert internal error/, openssl: /SSL alert number 80/, grpc: /^14 .*alert internal error/ }],
];

t.test('each alert reaches node tls, undici, grpc-js, curl and openssl s_client as that alert; the upstream is never dialled', async (t) => {
  let dialled = 0;
  const { port: up } = await tcpServer(t, (s) => (dialled++, s.destroy()));
  const rules = ALERTS.map(([alert], i) => `    - {name: reject-${i}, match: {listener: up, sni: "n${i}.example.com"}, faults: [{type: tls_reject, alert: ${alert}}]}`).join('\n');
  const ca = makeCa(t);
  const { port } = await startSidecar(t, up, rules);
  for (const [i, [alert, expected]] of ALERTS.entries()) {
    const target: Target = { port, name: `n${i}.example.com`, ca: ca.cert, caFile: ca.certFile };
    t.match(await nodeTls(target), new RegExp(`^${expected.node}: `), `${alert}: node tls`);
    t.match(await undici(target), new RegExp(`^${expected.node}: `), `${alert}: undici`);
    t.match(await nodeHttp2(target), new RegExp(`^${expected.node}: `), `${alert}: node http2`);
    t.match(await nodeHttps(target), new RegExp(`^EPROTO: .*SSL alert number ${TLS_ALERTS[alert as keyof typeof TLS_ALERTS]}`), `${alert}: node https (EPROTO, the alert in its message)`);
    t.match(await grpcTls(target), expected.grpc, `${alert}: grpc-js`);
    t.match(await curl(target), expected.curl, `${alert}: curl`);
    t.match(await opensslClient(target), expected.openssl, `${alert}: openssl s_client`);
  }
  t.equal(dialled, 0, 'no connection reached the upstream');
});

t.test('firstConnections: the first two handshakes are refused, the third reaches the upstream; protocol: tls matches a hello without a server name', async (t) => {
  const ca = makeCa(t);
  const { port: up } = await httpsUpstream(t, serverCertificate(ca, ['api.example.com', '127.0.0.1']));
  const { port } = await startSidecar(t, up, `    - name: flaky-handshakes
      match: {listener: up, protocol: tls}
      faults: [{type: tls_reject, alert: internal_error, firstConnections: 2}]`);
  const target: Target = { port, name: 'api.example.com', ca: ca.cert, caFile: ca.certFile };
  t.match(await nodeTls(target), /^ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR/);
  t.match(await curl({ ...target, name: '127.0.0.1' }), /alert internal error/, 'curl to an IP sends no server name: protocol: tls still matches');
  t.equal(await nodeTls(target), 'ok', 'the third connection passes through to the upstream');
});
