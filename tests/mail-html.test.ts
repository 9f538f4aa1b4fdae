import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { MAIL_TYPES, Mailer, renderMail } from '@kantine/central/mail';
import { startMailCatcher } from '@kantine/central/mail/dev';
import test from 'ava';
import type { Page } from 'playwright-core';
import { launch } from './helpers/browser.ts';
import { EACH } from './helpers/mail.ts';

/** axe-core's WCAG 2.1 A/AA findings on the page: `rule (count)` each. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
  const violations = await page.evaluate(async () => {
    const w = globalThis as unknown as {
      axe: { run(o: object): Promise<{ violations: { id: string; nodes: unknown[] }[] }> };
    };
    const result = await w.axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id} (${v.nodes.length})`);
  });
  return violations;
}

test.serial('every mail’s HTML and the catcher’s page pass axe-core’s WCAG 2.1 AA checks in Chromium', async (t) => {
  const browser = await launch();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  for (const type of MAIL_TYPES) {
    await page.setContent(renderMail(EACH[type]).html);
    t.is(await page.getAttribute('html', 'lang'), 'da', type);
    t.is(await page.locator('section[lang="en"] h1').count(), 1, `${type}: the English part is marked`);
    t.deepEqual(await axeViolations(page), [], type);
  }
  const catcher = await startMailCatcher();
  t.teardown(() => catcher.close());
  await page.goto(`http://127.0.0.1:${catcher.httpPort}/`);
  t.deepEqual(await axeViolations(page), [], 'the catcher’s page, empty');
  const mailer = new Mailer({
    smtp_url: `smtp://127.0.0.1:${catcher.smtpPort}`,
    starttls: 'if_offered',
    from: 'kantine@kommune.example',
    max_attempts: 1,
  });
  t.teardown(() => mailer.close());
  for (const type of MAIL_TYPES) await mailer.send({ to: 'mor@example.dk', ...renderMail(EACH[type]) });
  await page.goto(`http://127.0.0.1:${catcher.httpPort}/`);
  t.is(await page.locator('article').count(), MAIL_TYPES.length);
  t.deepEqual(await axeViolations(page), [], 'the catcher’s page with mails');
  await page.goto(`http://127.0.0.1:${catcher.httpPort}/mails/1.html`);
  t.is(await page.locator('h1').first().textContent(), 'Kvittering for indbetaling');
});
