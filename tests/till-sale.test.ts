import test from 'ava';
import { cards, purchaseCount, startSite, type TestSite } from './helpers/site.ts';

function putBasket(site: TestSite, till: string, body: unknown): Promise<Response> {
  return site.api(till, 'PUT', '/basket', body);
}

test('approves a sale, charges the basket and keeps its line items', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1');
  const res = await putBasket(site, 'till-1', {
    lines: [
      { product_id: 'ostehoeps', quantity: 1 },
      { product_id: 'yoghurt', quantity: 1 },
      { product_id: 'stor-grovbolle', quantity: 2 },
    ],
  });
  t.is(res.status, 200);

  const result = await reader.tap(cards.alma);
  if (result.kind !== 'decision') return t.fail(`no decision: ${result.kind}`);
  const d = result.decision;
  t.is(d.outcome, 'approved');
  t.is(d.amount_ore, 300 + 600 + 2 * 500);
  t.is(d.balance_ore, 10_000 - 1_900);
  t.is(d.first_name, 'Alma');
  t.deepEqual(
    d.lines?.map((l) => `${l.quantity}x ${l.name} ${l.unit_price_ore}`),
    ['1x Ostehøps 300', '1x Yoghurt 600', '2x Stor Grovbolle 500'],
  );
  t.deepEqual(reader.feedback.shown, ['approved']);

  const entry = site.ledger.db.prepare('SELECT * FROM entries WHERE tap_id = ?').get(d.tap_id) as Record<
    string,
    unknown
  >;
  t.is(entry.amount_ore, -1_900);
  t.is(entry.id, d.entry_id);
  const lines = site.ledger.db
    .prepare('SELECT name, quantity, unit_price_ore FROM entry_lines WHERE entry_id = ? ORDER BY line_no')
    .all(d.entry_id);
  t.deepEqual(lines, [
    { name: 'Ostehøps', quantity: 1, unit_price_ore: 300 },
    { name: 'Yoghurt', quantity: 1, unit_price_ore: 600 },
    { name: 'Stor Grovbolle', quantity: 2, unit_price_ore: 500 },
  ]);
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 8_100);
  t.is(site.ledger.baskets.getBasket('till-1'), undefined, 'a sale consumes the basket');
  t.deepEqual(site.ledger.reports.verify(), []);
});

test('declines a tap for insufficient funds and charges nothing', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1');
  await putBasket(site, 'till-1', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });

  const result = await reader.tap(cards.bo);
  if (result.kind !== 'decision') return t.fail(`no decision: ${result.kind}`);
  t.is(result.decision.outcome, 'declined');
  t.is(result.decision.code, 'insufficient_funds');
  t.is(result.decision.amount_ore, 600);
  t.is(result.decision.balance_ore, 200);
  t.deepEqual(reader.feedback.shown, ['declined:insufficient_funds']);
  t.is(site.ledger.accounts.getAccount('acc-bo')?.balance_ore, 200);
  t.is(purchaseCount(site.ledger), 0);
  t.truthy(site.ledger.baskets.getBasket('till-1'), 'the basket stays for the next child');
});

test('declines an unknown card, a blocked card, a replaced card and a blank card, each with its own code', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1');
  await putBasket(site, 'till-1', { lines: [{ product_id: 'ostehoeps', quantity: 1 }] });
  const codes: Record<string, string | undefined> = {};
  for (const [name, uid] of Object.entries({
    unknown: cards.unknown,
    blocked: cards.blocked,
    replaced: cards.replaced,
    stock: cards.stock,
  })) {
    const r = await reader.tap(uid);
    codes[name] = r.kind === 'decision' && r.decision.outcome === 'declined' ? r.decision.code : r.kind;
  }
  t.deepEqual(codes, {
    unknown: 'unknown_card',
    blocked: 'card_blocked',
    replaced: 'card_replaced',
    stock: 'card_not_active',
  });
  t.is(purchaseCount(site.ledger), 0);
});

test('a tap with an empty basket shows the balance and charges nothing', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1');
  const r = await reader.tap(cards.alma);
  if (r.kind !== 'decision') return t.fail(r.kind);
  t.is(r.decision.outcome, 'balance');
  t.is(r.decision.balance_ore, 10_000);
  t.is(purchaseCount(site.ledger), 0);
});

test('a standing basket stays on the till and pays for every tap', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1');
  await putBasket(site, 'till-1', { lines: [{ product_id: 'ostehoeps', quantity: 1 }], standing: true });
  for (let i = 0; i < 3; i++) {
    const r = await reader.tap(cards.alma);
    t.is(r.kind === 'decision' && r.decision.outcome, 'approved');
    reader.port.remove();
  }
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000 - 3 * 300);
});

test('a basket on one till is not paid by a tap on another till', async (t) => {
  const site = await startSite(t);
  const reader2 = await site.reader('reader-2', 'till-2');
  await putBasket(site, 'till-1', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
  const r = await reader2.tap(cards.alma);
  t.is(r.kind === 'decision' && r.decision.outcome, 'balance');
  t.truthy(site.ledger.baskets.getBasket('till-1'));
});

test('the till API refuses bad baskets with a code and changes nothing', async (t) => {
  const site = await startSite(t);
  const cases: [string, unknown, number, string][] = [
    ['till-1', { lines: [{ product_id: 'kaviar', quantity: 1 }] }, 400, 'unknown_product'],
    ['till-1', { lines: [] }, 400, 'invalid_request'],
    ['till-1', { lines: [{ product_id: 'yoghurt', quantity: 0 }] }, 400, 'invalid_request'],
    ['till-1', { lines: [{ product_id: 'yoghurt', quantity: 1, price_ore: 1 }] }, 400, 'invalid_request'],
    ['till-1', { lines: [{ product_id: 'yoghurt', quantity: 1.5 }] }, 400, 'invalid_request'],
    ['till-9', { lines: [{ product_id: 'yoghurt', quantity: 1 }] }, 404, 'unknown_till'],
    ['TILL 1', { lines: [{ product_id: 'yoghurt', quantity: 1 }] }, 400, 'invalid_request'],
  ];
  const cookie = await site.login('till-1');
  for (const [till, body, status, code] of cases) {
    const res = await fetch(`${site.http}/api/tills/${encodeURIComponent(till)}/basket`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { code: string };
    t.is(res.status, status, `${till} ${JSON.stringify(body)}`);
    t.is(json.code, code, `${till} ${JSON.stringify(body)}`);
  }
  const notJson = await site.api('till-1', 'PUT', '/basket', '{"lines": [');
  t.is(notJson.status, 400);
  t.is(((await notJson.json()) as { code: string }).code, 'invalid_request');
  t.is(site.ledger.baskets.getBasket('till-1'), undefined);
});
