/**
 * The webshop's portal tests: menus at the demo's school (`families()`), and the days they are for.
 * A menu is made through central's admin route, as the contract says tests, IT and the demo do.
 */
import type { Page } from 'playwright-core';
import type { TestCentral } from './central.ts';
import { SITE, text } from './portal.ts';

/** The school's canteen (the place of a linked test site: tests/helpers/site.ts). */
export const PLACE = 'kantinen';

/** The site's local date `days` from now (Europe/Copenhagen), `YYYY-MM-DD`. */
export function localDay(days: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Copenhagen' }).format(
    new Date(Date.now() + days * 864e5),
  );
}

/** Items of the demo's menu: the site's own products and two more (one with egg, one a soft drink). */
export const ITEMS = [
  {
    product_id: 'stor-grovbolle',
    name: 'Stor Grovbolle',
    price_ore: 500,
    category: 'mad',
    allergens: ['gluten'],
    cap: null,
  },
  { product_id: 'yoghurt', name: 'Yoghurt', price_ore: 600, category: 'mad', allergens: ['maelk'], cap: null },
  {
    product_id: 'frikadeller',
    name: 'Frikadeller med kartoffelsalat',
    price_ore: 3_500,
    category: 'mad',
    allergens: ['aeg'],
    cap: 40,
  },
  { product_id: 'sodavand', name: 'Sodavand', price_ore: 1_200, category: 'slik', allergens: [], cap: null },
] as const;

/**
 * A menu at the school's canteen for `date`: orders until early that morning (UTC 06:00, after the
 * local midnight that starts the day), cancels until UTC 05:00 — or both already past (`closed`).
 */
export async function putMenu(central: TestCentral, date: string, opts: { closed?: boolean } = {}): Promise<void> {
  const body = {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: opts.closed ? new Date(Date.now() - 60_000).toISOString() : `${date}T06:00:00.000Z`,
    cancel_deadline: opts.closed ? new Date(Date.now() - 120_000).toISOString() : `${date}T05:00:00.000Z`,
    items: ITEMS,
  };
  const r = await central.api('PUT', `/api/sites/${SITE}/menus/${PLACE}/${date}`, body);
  if (r.status !== 204) throw new Error(`PUT menu ${date}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Emma's balance at central, in øre. */
export async function balanceOf(central: TestCentral, account = 'konto-emma'): Promise<number> {
  const r = await central.api('GET', `/api/accounts/${account}`);
  if (r.status !== 200) throw new Error(`GET ${account}: ${r.status}`);
  return Number(r.body.balance_ore);
}

/** Fills the menu's quantities and puts them in the basket. */
export async function fillBasket(page: Page, quantities: Record<string, number>): Promise<void> {
  for (const [id, n] of Object.entries(quantities)) await page.locator(`#antal-${id}`).fill(String(n));
  await page.getByTestId('to-basket').click();
  await page.getByTestId('basket').waitFor();
}

/** The order page's state tag (`data-state`) and its text. */
export async function orderState(page: Page): Promise<{ state: string | null; text: string }> {
  const tag = page.getByTestId('order-state');
  return { state: await tag.getAttribute('data-state'), text: await text(tag) };
}
