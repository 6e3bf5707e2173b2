import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { launchChromium, needsChromium } from '../helpers/browser.js';
import { loadExperiment } from '../../src/experiments/load.js';
import { renderHtml } from '../../src/experiments/report-html.js';
import { ExperimentRunner } from '../../src/experiments/runner.js';
import { appBehindSidecar, experimentDoc, yamlOf } from '../helpers/experiment.js';
import { tempDir } from '../helpers/sidecar.js';


t.test('the HTML report loads in headless Chromium and shows the timeline with the fault windows shaded', needsChromium(), async (t) => {
  const { h, probeUrl } = await appBehindSidecar(t);
  const doc = experimentDoc(h, probeUrl, {
    abort: { consecutiveFailures: 1000 },
    method: [
      { name: 'errors', rules: [{ name: 'errors', match: { listener: 'up', protocol: 'http' }, faults: [{ type: 'http_abort', status: 503 }] }], duration: '200ms' },
      { wait: '150ms' },
      { name: 'slow', rules: [{ name: 'slow', match: { listener: 'up' }, faults: [{ type: 'latency', latency: '30ms' }] }], duration: '200ms' },
    ],
  });
  const report = await new ExperimentRunner({ doc: loadExperiment(yamlOf(doc), 'e.yaml'), file: 'e.yaml', seed: 3 }).run();
  report.events.push({ t: report.durationMs, type: 'verdict', message: '<script>alert(1)</script> & "quotes"' });
  const dir = tempDir(t);
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtml(report));

  const browser = await launchChromium(t);
  const tab = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  tab.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  tab.on('request', (req) => requests.push(req.url()));
  await tab.goto(pathToFileURL(file).href);
  t.match(await tab.title(), /^faultline experiment checkout: passed$/);
  t.equal(await tab.locator('svg.timeline').count(), 1, 'one timeline per probe');
  t.equal(await tab.locator('svg.timeline rect.fault-window').count(), 2, 'both fault windows shaded');
  t.equal(await tab.locator('svg.timeline circle.sample').count(), report.samples.length, 'every sample drawn');
  t.equal(await tab.locator('svg.timeline circle.sample.fail').count(), report.samples.filter((s) => !s.ok).length, 'failures marked');
  t.ok(report.samples.some((s) => !s.ok), 'the 503 window made some');
  const box = await tab.locator('svg.timeline rect.fault-window').first().boundingBox();
  t.ok(box && box.width > 5 && box.height > 50, `the shading is visible (${JSON.stringify(box)})`);
  const fill = await tab.locator('svg.timeline rect.fault-window').first().evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } }).getComputedStyle(el).fill);
  t.match(fill, /rgb\(245, 166, 35\)/, 'and coloured');
  t.match(await tab.locator('.verdict').innerText(), /PASSED/);
  t.match(await tab.locator('table.recovery').innerText(), /errors[^]*slow/);
  t.match(await tab.locator('table.events').innerText(), /<script>alert\(1\)<\/script> & "quotes"/, 'text is escaped, shown as text');
  t.same(requests, [pathToFileURL(file).href], 'nothing loaded but the page itself');
  t.same(errors, [], 'no script errors');
  await tab.screenshot({ path: process.env.FAULTLINE_SHOT ?? join(dir, 'shot.png') });
});
