import t from 'tap';
import { Agent, request } from 'undici';
import { startAdmin, TOKEN } from '../helpers/admin.js';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { httpUpstream } from '../helpers/http.js';
import { dial, roundTrip } from '../helpers/net.js';

const RULES = `    - name: fail-api
      match: {listener: up, protocol: http, http: {paths: ["/api/*"]}}
      faults: [{type: http_abort, status: 503, probability: 0.5}, {type: http_delay, delay: 1ms, phase: response}]`;

t.test('/ui: rules with their values, live charts, filters, and the kill switch and rule buttons with a credential', needsChromium(), async (t) => {
  const { port: web } = await httpUpstream(t);
  const h = await startAdmin(t, web, RULES);
  const browser = await launchChromium(t);
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  tab.on('console', (msg) => msg.type() === 'error' && !/401|403/.test(msg.text()) && errors.push(msg.text()));
  await tab.goto(`${h.admin}/ui`);

  const rule = tab.locator('#rules tbody tr', { hasText: 'fail-api' });
  await rule.waitFor({ timeout: 10_000 });
  const ruleText = await rule.innerText();
  t.match(ruleText, /http_abort status=503, p=0\.5/, 'each fault with its values and probability');
  t.match(ruleText, /http_delay delay=1ms phase=response, p=1/);
  t.match(ruleText, /listener: up; protocol: http; http: \{"paths":\["\/api\/\*"\]\}/, 'the match as fields, not one JSON blob');

  // Traffic while the page watches: requests (some aborted) and a long connection.
  const agent = new Agent({ connections: 2 });
  t.teardown(() => agent.close());
  const until = Date.now() + 3500;
  while (Date.now() < until) {
    await Promise.all(['/api/a', '/ok'].map(async (p) => (await request(`http://127.0.0.1:${h.port}${p}`, { dispatcher: agent })).body.dump()));
    await new Promise((r) => setTimeout(r, 20));
  }
  await tab.waitForFunction('series.requests.length >= 3', undefined, { timeout: 10_000 });
  t.ok(Number(await tab.evaluate('Math.max(...series.requests)')) > 10, 'requests per second were charted');
  t.ok(Number(await tab.evaluate('Math.max(...series.faults)')) > 1, 'and faults per second');
  for (const id of ['chart-connections', 'chart-requests', 'chart-faults']) {
    const inked = await tab.evaluate(`(() => { const c = document.getElementById('${id}'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let blue = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > d[i] + 40) blue++; return blue; })()`);
    t.ok(Number(inked) > 20, `${id}: a line is drawn (${inked} px)`);
    t.ok(Number(await tab.getAttribute(`#${id}`, 'data-samples')) >= 3, `${id}: with its samples`);
  }

  // Filters: only the connections a fault acted on.
  const plain = await dial(t, h.port);
  await roundTrip(plain, 1);
  await tab.locator('#connections tbody tr').first().waitFor({ timeout: 10_000 });
  await tab.check('#filter-faulted');
  await tab.fill('#filter-listener', 'nope');
  await tab.locator('#connection-count', { hasText: '(0)' }).waitFor({ timeout: 10_000 });
  await tab.fill('#filter-listener', '');
  await tab.uncheck('#filter-faulted');

  // The kill switch: refused without a credential that grants it, done with one.
  await tab.click('#killswitch');
  await tab.locator('#change-login').waitFor({ state: 'visible', timeout: 10_000 });
  t.equal(h.sidecar.engine.killSwitch, false, 'nothing changed without a credential');
  await tab.fill('#change-token', 'wrong-token');
  await tab.click('#change-login button[type=submit]');
  await tab.locator('#change-error', { hasText: 'refused' }).waitFor({ timeout: 10_000 });
  t.equal(h.sidecar.engine.killSwitch, false, 'nor with a wrong one');
  await tab.fill('#change-token', TOKEN);
  await tab.click('#change-login button[type=submit]');
  await tab.locator('#killswitch', { hasText: 'ON' }).waitFor({ timeout: 10_000 });
  t.equal(h.sidecar.engine.killSwitch, true, 'the kill switch is on');
  t.ok(await tab.locator('#change-login').isHidden());
  await tab.click('#killswitch');
  await tab.locator('#killswitch', { hasText: 'turn on' }).waitFor({ timeout: 10_000 });
  t.equal(h.sidecar.engine.killSwitch, false, 'and off again, with the credential it kept');

  // A runtime rule gets a remove button; file rules do not.
  t.equal((await h.call('POST', '/rules', { body: { name: 'runtime-slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: 1 }] } })).status, 201);
  const runtime = tab.locator('#rules tbody tr', { hasText: 'runtime-slow' });
  await runtime.waitFor({ timeout: 10_000 });
  t.equal(await rule.locator('button').count(), 0, 'no remove button on a file rule');
  await runtime.locator('button', { hasText: 'remove' }).click();
  await runtime.waitFor({ state: 'detached', timeout: 10_000 });
  t.same((await h.call('GET', '/rules')).json.rules, [], 'the runtime rule is gone');
  plain.destroy();
  t.same(errors, [], 'no script errors under the strict CSP');
});
