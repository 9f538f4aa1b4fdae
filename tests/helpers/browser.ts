import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { repoRoot } from './process.ts';

/** Debian's Chromium (package `chromium`), or the one named by KANTINE_CHROMIUM. */
export const chromiumPath = process.env.KANTINE_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export const browserMissing = existsSync(chromiumPath) ? undefined : `no Chromium at ${chromiumPath}`;

/** Screenshots of every screen, kept as test artifacts (look at them). */
export const artifactsDir = join(repoRoot, 'artifacts', 'kiosk');

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    // As root in CI, without a sandbox; no background traffic on a machine without internet.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Saves a screenshot of the page as artifacts/kiosk/<name>.png. */
export async function snap(page: Page, name: string): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: join(artifactsDir, `${name}.png`) });
}
