import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import t from 'tap';
import { request } from 'undici';
import { dial, echoServer, roundTrip } from '../helpers/net.js';
import { startAdmin } from '../helpers/admin.js';
import { tempDir } from '../helpers/sidecar.js';

/** Debian's chromium (`apt-get install chromium`); CI installs it. */
const CHROMIUM = process.env.FAULTLINE_CHROMIUM ?? '/usr/bin/chromium';

t.test('/ui loads in headless Chromium and shows a live connection, rules and counters', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, async (t) => {
  const { port: echo } = await echoServer(t);
  const h = await startAdmin(t, echo, `    - name: slow
      match: {listener: up}
      faults: [{type: latency, latency: 1ms}]`);
  const page = await request(`${h.admin}/ui`);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  await page.body.dump();

  // A fresh profile directory each run.
  const browser = await chromium.launchPersistentContext(tempDir(t), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
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
