/**
 * The portal's API at central (issue 17, item 10): the statement over a period in the seeds'
 * wording (JSON and CSV), the cards of an account by their printed numbers (block and re-open,
 * reaching the till), "Mine konti" (balance, card state, spend against the limits) and a
 * guardian's view of the account's audit lines — through the admin and finance tokens and the
 * services, on real Postgres with a linked gateway selling real taps.
 */

import { formatStatementLine } from '@kantine/gateway';
import { statementDate } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { DateTime } from 'luxon';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const CPR = '0703091234';
const CARD = { uid: '04000000001E01', number: '1234-7K3M-Q9XA' };
const OLD_CARD = { uid: '04000000001E02', number: '1234-ABCD-EFGH' };
const OTHER_CHILD_CARD = { uid: '04000000001E03', number: '1234-WXYZ-2345' };

const today = () => DateTime.now().setZone('Europe/Copenhagen').toISODate() as string;

function ok(t: ExecutionContext, r: { status: number; body: unknown }, status: number) {
  t.is(r.status, status, JSON.stringify(r.body));
}

/** Central on Postgres, the school's gateway linked to it, Emma with a CPR number, two cards (one replaced) and 149,50 kr. */
async function school(t: ExecutionContext): Promise<{ central: TestCentral; site: TestSite }> {
  const central = await startCentral(t, { database: { url: await freshDatabase(t, 'portal') } });
  const link = await central.addSite('sondervang');
  ok(
    t,
    await central.api('PUT', '/api/accounts/acc-emma', {
      first_name: 'Emma',
      last_name: 'Hansen',
      cpr: CPR,
      sites: ['sondervang'],
      allergies: ['peanuts'],
      limits: [{ place_kind: 'school', period: 'day', limit_ore: 5_000 }],
    }),
    204,
  );
  ok(t, await central.api('PUT', '/api/accounts/acc-freja', { first_name: 'Freja', sites: ['sondervang'] }), 204);
  for (const c of [OLD_CARD, CARD, OTHER_CHILD_CARD])
    ok(t, await central.api('PUT', `/api/cards/${c.uid}`, { kind: 'legacy', card_number: c.number }), 204);
  ok(t, await central.api('POST', `/api/cards/${OLD_CARD.uid}/activate`, { account_id: 'acc-emma' }), 204);
  ok(t, await central.api('POST', `/api/cards/${CARD.uid}/activate`, { account_id: 'acc-emma' }), 204);
  ok(t, await central.api('POST', `/api/cards/${OTHER_CHILD_CARD.uid}/activate`, { account_id: 'acc-freja' }), 204);
  const finance = await central.tokenFor('finance', 'Mette Økonomi');
  // The finance route books øre-exact amounts (a balance carried over from the old system).
  ok(t, await central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 4_950 }, finance), 201);
  ok(t, await central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 10_000 }, finance), 201);
  const site = await startSite(t, { site: 'sondervang', linked: true, config: { central: link } });
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-emma')?.balance_ore === 14_950 ? true : undefined),
    10_000,
    'Emma at the school',
  );
  return { central, site };
}

/** A pay-out or fee at central, retried (same id) while the school gives back its share. */
async function withdraw(central: TestCentral, body: Record<string, unknown>) {
  await until(async () => {
    const res = await central.api('POST', '/api/accounts/acc-emma/withdrawals', body);
    if (res.status === 201) return true;
    if (res.body.code !== 'funds_held_offline') throw new Error(JSON.stringify(res.body));
    return undefined;
  }, 'the withdrawal');
}

/** One sale at the school's till, paid with Emma's card. */
async function buy(t: ExecutionContext, site: TestSite, items: Record<string, number>) {
  const reader = await site.reader(`laeser-${Object.keys(items).join('-')}`);
  site.ledger.baskets.setBasket(
    'till-1',
    Object.entries(items).map(([product_id, quantity]) => ({ product_id, quantity })),
  );
  const result = await reader.tap(CARD.uid);
  if (result.kind !== 'decision') throw new Error(`no decision: ${JSON.stringify(result)}`);
  t.is(result.decision.outcome, 'approved', JSON.stringify(result.decision));
  return result.decision;
}

test('the statement at central prints deposits, purchases, pay-outs and fees in the seeds’ words, as JSON and CSV, and the gateway prints them alike', async (t) => {
  const { central, site } = await school(t);
  await buy(t, site, { ostehoeps: 1, yoghurt: 1, 'stor-grovbolle': 1 });
  await until(async () => {
    const e = await central.api('GET', '/api/accounts/acc-emma/entries');
    return (e.body.entries as { kind: string }[]).some((x) => x.kind === 'purchase') ? true : undefined;
  }, 'the sale at central');
  // The school holds shares of the balance: central recalls them and the request is retried.
  await withdraw(central, { id: 'payout-1', amount_ore: 2_000 });
  await withdraw(central, { id: 'fee-1', amount_ore: 1_000, kind: 'fee', reason: 'Nyt kort' });

  const day = today();
  const res = await central.api('GET', `/api/accounts/acc-emma/statement?from=${day}&to=${day}`);
  ok(t, res, 200);
  const s = res.body;
  t.like(s, { account_id: 'acc-emma', from: day, to: day, opening_balance_ore: 0, closing_balance_ore: 10_550 });
  t.deepEqual(
    s.lines.map((l: { text: string; amount_ore: number; balance_after_ore: number; kind: string }) => [
      l.kind,
      l.text,
      l.amount_ore,
      l.balance_after_ore,
    ]),
    [
      ['fee', 'Gebyr: Nyt kort', -1_000, 10_550],
      ['withdrawal', 'Udbetalt', -2_000, 11_550],
      ['purchase', 'Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00 1x Stor Grovbolle 5.00', -1_400, 13_550],
      ['deposit', 'Indsat', 10_000, 14_950],
      ['deposit', 'Indsat', 4_950, 4_950],
    ],
  );
  t.deepEqual(s.lines[2].items, [
    { quantity: 1, name: 'Ostehøps', unit_price_ore: 300 },
    { quantity: 1, name: 'Yoghurt', unit_price_ore: 600 },
    { quantity: 1, name: 'Stor Grovbolle', unit_price_ore: 500 },
  ]);
  t.is(s.lines[2].place_kind, 'school');
  for (const l of s.lines) t.true(Number.isInteger(l.amount_ore) && Number.isInteger(l.balance_after_ore));

  // CSV: the seeds' columns with English beside, `;` and a decimal comma for a Danish spreadsheet.
  const csv = await fetch(`${central.http}/api/accounts/acc-emma/statement?from=${day}&to=${day}&format=csv`, {
    headers: { authorization: `Bearer ${central.token}` },
  });
  t.is(csv.status, 200);
  t.regex(csv.headers.get('content-type') ?? '', /^text\/csv; charset=utf-8/);
  t.is(csv.headers.get('content-disposition'), `attachment; filename="kontoudtog-acc-emma-${day}-${day}.csv"`);
  const bytes = Buffer.from(await csv.arrayBuffer());
  t.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a byte-order mark for Excel');
  const rows = bytes.subarray(3).toString('utf8').split('\r\n');
  const at = (i: number) => statementDate(s.lines[i].at);
  t.deepEqual(rows, [
    '"Dato (Date)";"Type (Type)";"Beløb (Amount)";"Saldo (Balance)"',
    `"${at(0)}";"Gebyr: Nyt kort";-10,00;105,50`,
    `"${at(1)}";"Udbetalt";-20,00;115,50`,
    `"${at(2)}";"Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00 1x Stor Grovbolle 5.00";-14,00;135,50`,
    `"${at(3)}";"Indsat";100,00;149,50`,
    `"${at(4)}";"Indsat";49,50;49,50`,
    '',
  ]);

  // The gateway's statement: a pay-out and a fee no longer print as "Indsat"; the words are central's.
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-emma')?.balance_ore === 10_550 ? true : undefined),
    10_000,
    'the pay-out and the fee at the school',
  );
  const atSite = site.ledger.reports.statement('acc-emma', day, day);
  t.deepEqual(
    atSite.map((l) => l.text),
    s.lines.map((l: { text: string }) => l.text),
  );
  t.deepEqual(atSite.map(formatStatementLine).slice(0, 2), [
    `${at(0)}\tGebyr: Nyt kort\tkr.-10,00\tkr.105,50`,
    `${at(1)}\tUdbetalt\tkr.-20,00\tkr.115,50`,
  ]);

  // A period before any entry, and one after.
  const before = await central.api('GET', '/api/accounts/acc-emma/statement?from=2015-08-01&to=2015-08-31');
  t.like(before.body, { opening_balance_ore: 0, closing_balance_ore: 0, lines: [] });
  const tomorrow = DateTime.fromISO(day).plus({ days: 1 }).toISODate();
  const after = await central.api('GET', `/api/accounts/acc-emma/statement?from=${tomorrow}&to=${tomorrow}`);
  t.like(after.body, { opening_balance_ore: 10_550, closing_balance_ore: 10_550, lines: [] });

  // No CPR number in a statement.
  t.false(JSON.stringify(s).includes(CPR.slice(0, 6)));
});

test('a statement request that is not a period is refused with a coded error', async (t) => {
  const { central } = await school(t);
  const refused: [string, number, string][] = [
    ['', 400, 'invalid_request'],
    ['?from=2026-12-01', 400, 'invalid_request'],
    ['?from=2026-02-30&to=2026-03-01', 400, 'invalid_request'],
    ['?from=01-12-2026&to=2026-12-07', 400, 'invalid_request'],
    ['?from=2026-12-07&to=2026-12-01', 400, 'invalid_request'],
    ['?from=2000-01-01&to=2026-12-01', 400, 'invalid_request'],
    ['?from=2026-12-01&to=2026-12-07&format=xml', 400, 'invalid_request'],
    ['?from=2026-12-01&to=2026-12-07&account=acc-freja', 400, 'invalid_request'],
    ['?from=2026-12-01&from=2026-12-02&to=2026-12-07', 400, 'invalid_request'],
  ];
  for (const [query, status, code] of refused) {
    const res = await central.api('GET', `/api/accounts/acc-emma/statement${query}`);
    t.is(res.status, status, query);
    t.is(res.body.code, code, query);
  }
  const unknown = await central.api('GET', '/api/accounts/acc-nobody/statement?from=2026-12-01&to=2026-12-07');
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'not_found');
  // Finance reads statements; IT and monitoring do not, nor anyone without a token.
  const ok_ = await central.api(
    'GET',
    '/api/accounts/acc-emma/statement?from=2026-12-01&to=2026-12-07',
    undefined,
    await central.tokenFor('finance'),
  );
  t.is(ok_.status, 200);
  for (const scope of ['it', 'monitoring'] as const) {
    const res = await central.api(
      'GET',
      '/api/accounts/acc-emma/statement?from=2026-12-01&to=2026-12-07',
      undefined,
      await central.tokenFor(scope),
    );
    t.is(res.status, 403, scope);
  }
  t.is(
    (await central.api('GET', '/api/accounts/acc-emma/statement?from=2026-12-01&to=2026-12-07', undefined, null))
      .status,
    401,
  );
});

test('an account’s cards are listed by their printed numbers and blocked and re-opened by number, reaching the till', async (t) => {
  const { central, site } = await school(t);
  const cards = await central.api('GET', '/api/accounts/acc-emma/cards');
  ok(t, cards, 200);
  t.deepEqual(cards.body.cards, [
    { number: CARD.number, state: 'active', kind: 'legacy' },
    { number: OLD_CARD.number, state: 'replaced', kind: 'legacy' },
  ]);
  t.false(JSON.stringify(cards.body).includes(CARD.uid), 'a UID card’s UID is its key: never shown');

  // The eight characters without the issuer's digits, any case (as a guardian types them).
  const blocked = await central.api('POST', '/api/accounts/acc-emma/cards/7k3mq9xa/block');
  ok(t, blocked, 200);
  t.deepEqual(blocked.body.card, { number: CARD.number, state: 'blocked', kind: 'legacy' });
  await eventually(
    () => (site.ledger.accounts.getCard(CARD.uid)?.state === 'blocked' ? true : undefined),
    10_000,
    'blocked at the till',
  );
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }]);
  const reader = await site.reader('laeser-1');
  const declined = await reader.tap(CARD.uid);
  t.is(declined.kind === 'decision' ? declined.decision.code : declined.kind, 'card_blocked');
  // Nothing can be deposited to a blocked account (the seeds).
  const deposit = await central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 10_000 });
  t.is(deposit.body.code, 'account_blocked');
  // Blocking twice changes nothing.
  ok(t, await central.api('POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`), 200);

  // The full number as printed re-opens it.
  const reopened = await central.api('POST', `/api/accounts/acc-emma/cards/${CARD.number}/unblock`);
  ok(t, reopened, 200);
  t.is(reopened.body.card.state, 'active');
  await eventually(
    () => (site.ledger.accounts.getCard(CARD.uid)?.state === 'active' ? true : undefined),
    10_000,
    'open at the till',
  );

  const refused: [string, number, string][] = [
    [`/api/accounts/acc-emma/cards/${OTHER_CHILD_CARD.number}/block`, 404, 'not_found'],
    ['/api/accounts/acc-emma/cards/WXYZ2345/block', 404, 'not_found'],
    ['/api/accounts/acc-emma/cards/1234-0000-0000/block', 404, 'not_found'],
    [`/api/accounts/acc-freja/cards/${CARD.number}/block`, 404, 'not_found'],
    [`/api/accounts/acc-emma/cards/${OLD_CARD.number}/unblock`, 400, 'invalid_request'],
    ['/api/accounts/acc-emma/cards/ABC/block', 400, 'invalid_request'],
    ['/api/accounts/acc-emma/cards/7K3M%20Q9XA/block', 400, 'invalid_request'],
    [`/api/accounts/acc-nobody/cards/${CARD.number}/block`, 404, 'not_found'],
  ];
  for (const [path, status, code] of refused) {
    const res = await central.api('POST', path);
    t.is(res.status, status, path);
    t.is(res.body.code, code, path);
  }
  t.is(site.ledger.accounts.getCard(OTHER_CHILD_CARD.uid)?.state, 'active', 'the other child’s card untouched');
  for (const scope of ['finance', 'it', 'monitoring'] as const) {
    const res = await central.api(
      'POST',
      `/api/accounts/acc-emma/cards/${CARD.number}/block`,
      undefined,
      await central.tokenFor(scope),
    );
    t.is(res.status, 403, scope);
    const list = await central.api('GET', '/api/accounts/acc-emma/cards', undefined, await central.tokenFor(scope));
    t.is(list.status, 403, scope);
  }
  t.is((await central.api('GET', '/api/accounts/acc-emma/cards')).body.cards[0].state, 'active');
});

test('"Mine konti" gives each account’s balance, card state and today’s spend against the limits per kind of place', async (t) => {
  const { central, site } = await school(t);
  const sale = await buy(t, site, { ostehoeps: 1, yoghurt: 1 });
  await buy(t, site, { 'stor-grovbolle': 1 });
  await until(
    async () => ((await central.api('GET', '/api/accounts/acc-emma')).body.balance_ore === 13_550 ? true : undefined),
    'the sales at central',
  );
  const views = central.service.central.accounts.views;
  const [emma, freja] = await views.overview([
    { account_id: 'acc-emma', role: 'guardian' },
    { account_id: 'acc-freja', role: 'relation' },
    { account_id: 'acc-gone', role: 'guardian' },
  ]);
  t.like(emma, {
    account_id: 'acc-emma',
    role: 'guardian',
    first_name: 'Emma',
    balance_ore: 13_550,
    card_state: 'active',
  });
  const atSchool = (emma?.spend ?? []).filter((s) => s.place_kind === 'school');
  t.like(
    atSchool.find((s) => s.period === 'day'),
    { spent_ore: 1_400, limit_ore: 5_000, window: today() },
  );
  t.like(
    atSchool.find((s) => s.period === 'week'),
    { spent_ore: 1_400, limit_ore: null },
  );
  t.like(
    atSchool.find((s) => s.period === 'month'),
    { spent_ore: 1_400, limit_ore: null },
  );
  t.like(
    emma?.spend.find((s) => s.place_kind === 'club' && s.period === 'day'),
    { spent_ore: 0, limit_ore: null },
  );
  t.like(freja, { account_id: 'acc-freja', role: 'relation', balance_ore: 0, card_state: 'active' });

  // A voided sale does not count (as at the till).
  const voided = site.ledger.entries.voidSale({
    till_id: 'till-1',
    entry_id: sale.entry_id as string,
    reason: 'Forkert vare',
    staff_id: null,
  });
  t.truthy(voided);
  await until(async () => {
    const [e] = await views.overview([{ account_id: 'acc-emma', role: 'guardian' }]);
    return e?.spend.find((s) => s.place_kind === 'school' && s.period === 'day')?.spent_ore === 500 ? true : undefined;
  }, 'the void at central');

  // A blocked card shows as blocked.
  ok(t, await central.api('POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`), 200);
  const [after] = await views.overview([{ account_id: 'acc-emma', role: 'guardian' }]);
  t.is(after?.card_state, 'blocked');
  t.false(JSON.stringify(after).includes(CPR.slice(0, 6)));
});

test('a guardian’s view of the audit log names who topped up and who changed a limit, never a CPR number', async (t) => {
  const { central } = await school(t);
  ok(
    t,
    await central.api('PATCH', '/api/accounts/acc-emma', {
      limits: [{ place_kind: 'club', period: 'day', limit_ore: 2_000 }],
    }),
    204,
  );
  ok(t, await central.api('POST', `/api/accounts/acc-emma/cards/${CARD.number}/block`), 200);
  // A refused change is not a family's business (it stays in the full log for IT).
  t.is((await central.api('PATCH', '/api/accounts/acc-emma', { allergies: 'x' })).status, 400);
  const res = await central.api('GET', '/api/accounts/acc-emma/audit');
  ok(t, res, 200);
  const lines = res.body.lines as { who: string; text_da: string; text_en: string; role: string }[];
  t.deepEqual(
    lines.map((l) => [l.who, l.role, l.text_da]),
    [
      ['tests', 'admin', `Spærrede kortet ${CARD.number}`],
      ['tests', 'admin', 'Ændrede maks forbrug'],
      ['Mette Økonomi', 'finance', 'Indsatte penge'],
      ['Mette Økonomi', 'finance', 'Indsatte penge'],
      ['tests', 'admin', 'Oprettede eller ændrede kontoen'],
    ].slice(0, lines.length),
  );
  t.is(lines.length, 5);
  t.is(lines[1]?.text_en, 'Changed spending limits');
  t.false(JSON.stringify(res.body).includes(CPR.slice(0, 6)));
  // Another child's lines are not Emma's.
  const freja = await central.api('GET', '/api/accounts/acc-freja/audit');
  t.deepEqual(
    freja.body.lines.map((l: { text_da: string }) => l.text_da),
    ['Oprettede eller ændrede kontoen'],
  );
  for (const scope of ['finance', 'it', 'monitoring'] as const) {
    t.is(
      (await central.api('GET', '/api/accounts/acc-emma/audit', undefined, await central.tokenFor(scope))).status,
      403,
      scope,
    );
  }
  t.is((await central.api('GET', '/api/accounts/acc-nobody/audit')).status, 404);
});
