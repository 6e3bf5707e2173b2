import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AdminCredentials } from '../../src/admin/auth.js';
import { tempDir } from '../helpers/sidecar.js';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { request } from 'undici';
import { dial, echoServer, roundTrip } from '../helpers/net.js';
import { startAdmin } from '../helpers/admin.js';

t.test('/ui loads in headless Chromium and shows a live connection, rules and counters', needsChromium(), async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`);
  const page = await request(`${h.admin}/ui`);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  await page.body.dump();

  // A fresh profile directory each run.
  const browser = await launchChromium(t);
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  tab.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  await tab.goto(`${h.admin}/ui`);
  t.equal(await tab.title(), 'faultline');
  await tab.locator('#rules tbody tr', { hasText: 'slow' }).waitFor({ timeout: 10_000 });

  // A connection opened after the page loaded: the page finds it by itself.
  const socket = await dial(t, h.port);
  await roundTrip(socket, 42);
  const [conn] = h.sidecar.connections;
  const row = tab.locator('#connections tbody tr', { hasText: conn?.id as string });
  await row.waitFor({ timeout: 10_000 });
  const text = await row.innerText();
  t.match(text, /127\.0\.0\.1/, 'with its peers');
  t.match(text, /slow\/latency x1/, 'and the fault that fired');
  t.match(await tab.locator('#faults tbody').innerText(), /slow\s+latency\s+1\s+1/, 'the fault counters');
  t.match(await tab.locator('#policy').innerText(), /policy test \([0-9a-f]{16}\).*; interception none$/);

  await h.call('POST', '/killswitch');
  await tab.locator('#policy', { hasText: 'KILL SWITCH ON' }).waitFor({ timeout: 10_000 });
  socket.destroy();
  await tab.locator('#connection-count', { hasText: '(0)' }).waitFor({ timeout: 10_000 });
  t.same(errors, [], 'no script errors (the strict CSP included)');
});

t.test('/ui on a protected admin API asks for the credential, keeps it for the tab and sends it as X-Faultline-Token', needsChromium(), async (t) => {
  const { port: echo } = await echoServer(t);
  const dir = tempDir(t);
  writeFileSync(join(dir, 'view'), 'view-token-0123456789');
  const credentials = new AdminCredentials({ credentialsDir: dir, protectReads: true });
  const h = await startAdmin(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`, { tokenFile: false, credentials });
  const browser = await launchChromium(t);
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  const sent: (string | undefined)[] = [];
  tab.on('request', (r) => r.url().endsWith('/faults') && sent.push(r.headers()['x-faultline-token']));
  await tab.goto(`${h.admin}/ui`);
  await tab.locator('#login').waitFor({ state: 'visible', timeout: 10_000 });
  t.equal(await tab.locator('#rules tbody tr').count(), 0, 'nothing shown without the credential');
  await tab.fill('#token', 'wrong');
  await tab.click('#login button');
  await tab.locator('#login-error', { hasText: 'refused' }).waitFor({ timeout: 10_000 });
  await tab.fill('#token', 'view-token-0123456789');
  await tab.click('#login button');
  await tab.locator('#rules tbody tr', { hasText: 'slow' }).waitFor({ timeout: 10_000 });
  t.ok(await tab.locator('#login').isHidden(), 'the form goes once the credential works');
  t.ok(sent.includes('view-token-0123456789'), 'sent as X-Faultline-Token');
  await tab.reload();
  await tab.locator('#rules tbody tr', { hasText: 'slow' }).waitFor({ timeout: 10_000 });
  t.ok(await tab.locator('#login').isHidden(), 'kept for the tab (sessionStorage) across a reload');
  t.same(errors, [], 'no script errors under the CSP');
});
