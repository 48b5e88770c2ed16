/** Debian's chromium driven by playwright-core, for the browser suites. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { brokersRequired } from './require-broker.js';

/** Debian's chromium; CHROMIUM_PATH points elsewhere (used to test the skip). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Skips the suite (printing why) when chromium is absent; with CI=true that is a failure. */
export function requireChromium(context: Mocha.Context): void {
  if (fs.existsSync(CHROMIUM)) return;
  const reason = `${CHROMIUM} is not installed (apt-get install -y --no-install-recommends chromium)`;
  if (brokersRequired()) throw new Error(`${reason}; CI requires it`);
  console.log(`    skipping the browser suite: ${reason}`);
  context.skip();
}

export async function launch(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    timeout: 30_000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Collects script errors and console errors (a CSP violation is one) for the test to assert on.
 * Chromium also logs every HTTP error answer; the tests provoke those on purpose.
 */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    errors.push(`console: ${message.text()}`);
  });
  return errors;
}

/** A browser with one page whose script errors are collected; close() also removes its profile. */
export interface BrowserSession {
  readonly page: Page;
  readonly errors: string[];
  close(): Promise<void>;
}

export async function openPage(url: string): Promise<BrowserSession> {
  const browser = await launch();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const errors = watchErrors(page);
  await page.goto(url);
  return { page, errors, close: browser.close };
}
