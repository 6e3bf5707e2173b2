import t from 'tap';
import { request } from 'undici';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { startAdmin } from '../helpers/admin.js';
import { httpUpstream } from '../helpers/http.js';
import { waitForCounts } from '../helpers/mirror.js';

t.test('/ui shows each mirror rule\'s drift rate', needsChromium(), async (t) => {
  const { port: app } = await httpUpstream(t);
  const { port: shadow } = await httpUpstream(t, (req, res) => res.end(req.url === '/same' ? 'GET /same 0' : 'something else'));
  const h = await startAdmin(t, app, `    - name: dr
      match: {listener: up, protocol: http}
      faults: [{type: mirror, upstream: "127.0.0.1:${shadow}"}]`);
  for (const path of ['/same', '/same', '/same', '/other']) await (await request(`http://127.0.0.1:${h.port}${path}`)).body.text();
  await waitForCounts(h.sidecar, 'dr', 4);
  const browser = await launchChromium(t);
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  await tab.goto(`${h.admin}/ui`);
  const row = tab.locator('#mirror tbody tr', { hasText: 'dr' });
  await row.waitFor({ timeout: 10_000 });
  t.match(await row.innerText(), new RegExp(`dr\\s+127\\.0\\.0\\.1:${shadow}\\s+25\\.0%\\s+3\\s+1\\s+0\\s+0`), 'rule, shadow, drift rate, counters');
  t.same(errors, []);
});
