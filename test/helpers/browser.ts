import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import type { Test } from 'tap';
import { tempDir } from './sidecar.js';

/** Debian's chromium (`apt-get install chromium`); CI installs it. */
export const CHROMIUM = process.env.FAULTLINE_CHROMIUM ?? '/usr/bin/chromium';

/** The tap `skip` option for tests that need Chromium; never skipped under CI, which installs it. */
export const needsChromium = (): { skip: string | false } => ({ skip: existsSync(CHROMIUM) || process.env.CI === 'true' ? false : `no Chromium at ${CHROMIUM}` });

/** Headless Chromium with a fresh profile directory; closed at teardown. */
export async function launchChromium(t: Test): Promise<BrowserContext> {
  const browser = await chromium.launchPersistentContext(tempDir(t), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  return browser;
}
