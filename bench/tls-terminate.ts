/**
 * What TLS termination costs: HTTPS keep-alive requests per second and new TLS connections per
 * second (a full handshake, one request, close; no session resumption), direct to an HTTPS
 * origin, through the sidecar passing TLS through as a plain pipe (`sidecar-tls-passthrough`: no
 * rule, bytes never decrypted), and through the sidecar terminating it (`sidecar-tls-terminate`:
 * a `tls: terminate` rule for the name; faultline's handshake with the client on a leaf from its
 * CA, its own to the origin, verified; the cleartext through the HTTP/1.1 framer). Interleaved
 * rounds in one run, medians, ratios to the passthrough; each sidecar's CPU per request from
 * /proc, the steadier figure on a shared machine. The certificates are minted by faultline's own
 * X.509 code (src/tls/x509.ts), the client trusts both CAs.
 *
 *   node --import tsx bench/tls-terminate.ts [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { mint } from '../src/tls/x509.js';
import { freePort, waitConnectable } from './paths.js';
import { poolRate } from './workloads.js';
import { buildCompiledCli, sidecarCli } from './runtime.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 2 : 5;
const ROUNDS = 3;
const CONNECTIONS = 8;
const NAME = 'api.example.com';
// The sidecar compiled, as the image runs it (see bench/runtime.ts).
buildCompiledCli();
const BIN = sidecarCli();

const dir = mkdtempSync(join(tmpdir(), 'faultline-tls-bench-'));
const now = Date.now();
const day = 24 * 3600_000;
const appCa = await mint({ name: 'bench app CA', notBefore: new Date(now - day), notAfter: new Date(now + day), hash: 'SHA-256', ca: true });
const originCa = await mint({ name: 'bench origin CA', notBefore: new Date(now - day), notAfter: new Date(now + day), hash: 'SHA-256', ca: true });
const origin = await mint({ name: NAME, notBefore: new Date(now - day), notAfter: new Date(now + day), hash: 'SHA-256', signer: originCa.signer });
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
const files = { appCert: file('app-ca.crt', appCa.certPem), appKey: file('app-ca.key', appCa.keyPem), originCa: file('origin-ca.crt', originCa.certPem), originCert: file('origin.crt', origin.certPem), originKey: file('origin.key', origin.keyPem) };
const trust = appCa.certPem + originCa.certPem;

/** The HTTPS origin in its own process: 64-byte bodies, keep-alive. */
const ORIGIN = `
const https = require('node:https'); const fs = require('node:fs');
const body = Buffer.alloc(64, 'x');
https.createServer({ cert: fs.readFileSync(process.argv[2]), key: fs.readFileSync(process.argv[3]), keepAliveTimeout: 60000 }, (req, res) => { req.resume(); req.on('end', () => { res.setHeader('content-length', 64); res.end(body); }); }).listen(+process.argv[1], '127.0.0.1');
`;

/** HTTPS keep-alive requests per second over CONNECTIONS connections. */
async function keepAliveRate(port: number): Promise<number> {
  const pool = new Pool(`https://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1, connect: { ca: trust, servername: NAME } });
  return poolRate(pool, CONNECTIONS, SECONDS);
}

/** One new TLS connection: the full handshake (no session resumption), one request, its answer, close. */
function oneConnection(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: NAME, ca: trust }, () => socket.write(`GET /bench HTTP/1.1\r\nhost: ${NAME}\r\nconnection: close\r\n\r\n`));
    socket.on('data', () => {});
    socket.once('end', () => (socket.end(), resolve()));
    socket.once('error', reject);
  });
}

async function connectionRate(port: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        await oneConnection(port);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

const [originPort, passPort, termPort] = await Promise.all([freePort(), freePort(), freePort()]);
const policy = (name: string, port: number, rules: string) =>
  file(`${name}.yaml`, `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: ${name}}\nspec:\n  listeners:\n    - {name: https, listen: "127.0.0.1:${port}", upstream: "127.0.0.1:${originPort}"}\n  rules: ${rules}\n`);
const sidecar = (policyFile: string, tls: string[]) =>
  spawn(process.execPath, [BIN, 'sidecar', '--policy', policyFile, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...tls], { env: { ...process.env, FAULTLINE_LOG_LEVEL: 'warn' }, stdio: 'inherit' });
const children: ChildProcess[] = [
  spawn(process.execPath, ['-e', ORIGIN, String(originPort), files.originCert, files.originKey], { stdio: 'inherit' }),
  sidecar(policy('passthrough', passPort, '[]'), []),
  sidecar(policy('terminate', termPort, `\n    - {name: decrypt, match: {listener: https, sni: ${NAME}}, tls: terminate}`), ['--tls-ca-cert', files.appCert, '--tls-ca-key', files.appKey, '--tls-upstream-ca', files.originCa]),
];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const port of [originPort, passPort, termPort]) if (!(await waitConnectable(port))) throw new Error(`nothing listens on ${port}`);

const paths: Record<string, { port: number; pid: number | undefined }> = {
  direct: { port: originPort, pid: undefined },
  'sidecar-tls-passthrough': { port: passPort, pid: children[1]?.pid },
  'sidecar-tls-terminate': { port: termPort, pid: children[2]?.pid },
};
const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};
type Kind = 'keepAlive' | 'newConnections';
const rates: Record<string, Record<Kind, number[]>> = {};
const cpu: Record<string, Record<Kind, number[]>> = {};
async function measured(name: string, kind: Kind, run: () => Promise<number>): Promise<void> {
  const pid = paths[name]?.pid;
  const before = pid ? cpuMs(pid) : 0;
  const rate = await run();
  (rates[name] ??= { keepAlive: [], newConnections: [] })[kind].push(rate);
  if (pid) (cpu[name] ??= { keepAlive: [], newConnections: [] })[kind].push(+(((cpuMs(pid) - before) * 1000) / (rate * SECONDS)).toFixed(1));
}
// Warm-up (the terminating sidecar mints its leaf at policy load), then interleaved rounds.
for (const { port } of Object.values(paths)) (await keepAliveRate(port), await oneConnection(port));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, { port }] of Object.entries(paths)) {
    await measured(name, 'keepAlive', () => keepAliveRate(port));
    await measured(name, 'newConnections', () => connectionRate(port));
  }
}
const median = (v: number[] = []) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
const figure = (kind: Kind) => {
  const pass = median(rates['sidecar-tls-passthrough']?.[kind]);
  const term = median(rates['sidecar-tls-terminate']?.[kind]);
  return {
    direct: Math.round(median(rates.direct?.[kind])),
    passthrough: Math.round(pass),
    terminate: Math.round(term),
    terminateVsPassthrough: +(term / pass).toFixed(2),
    perRound: (rates['sidecar-tls-terminate']?.[kind] ?? []).map((t, i) => +(t / (rates['sidecar-tls-passthrough']?.[kind][i] ?? NaN)).toFixed(2)),
    sidecarCpuUsPerRequest: { passthrough: cpu['sidecar-tls-passthrough']?.[kind], terminate: cpu['sidecar-tls-terminate']?.[kind] },
  };
};
console.log(JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, httpsKeepAlive: figure('keepAlive'), newTlsConnections: figure('newConnections') }, null, 2));
process.exit(0);
