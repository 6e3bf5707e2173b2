import t from 'tap';
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
