/**
 * The webshop's core (issue 20): a menu at central, a guardian's order with the child's own rules
 * (the till's codes), paid by canteen card within the escrow, sent down the link to a real gateway
 * where a tap through the simulated reader shows it and staff hand it out (reported back up);
 * cancel and refund before the cancel deadline; a site whose link is down over the deadline still
 * gets what was paid. Real Postgres, the dev identity provider, real MQTT.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { DateTime } from 'luxon';
import { type FamilyCentral, families } from './helpers/portal.ts';
import { signIn } from './helpers/sign-in.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const SITE = 'soendervang';
const EMMA_CARD = '04000000003E01';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
/** The last minute of a local day, as an instant. */
const lateOn = (date: string) =>
  DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

const ITEMS = [
  { product_id: 'yoghurt', name: 'Yoghurt', price_ore: 600, category: 'mad', allergens: ['maelk'], cap: null },
  { product_id: 'ostehoeps', name: 'Ostehøps', price_ore: 300, category: 'mad', allergens: [], cap: 3 },
  { product_id: 'slikpose', name: 'Slikpose', price_ore: 1000, category: 'slik', allergens: [], cap: null },
];

async function menu(
  central: FamilyCentral,
  date: string,
  more: { order_deadline?: string; cancel_deadline?: string; site?: string } = {},
): Promise<void> {
  const r = await central.api('PUT', `/api/sites/${more.site ?? SITE}/menus/kantinen/${date}`, {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: more.order_deadline ?? lateOn(date),
    cancel_deadline: more.cancel_deadline ?? more.order_deadline ?? lateOn(date),
    items: ITEMS,
  });
  if (r.status !== 204) throw new Error(`PUT menu: ${r.status} ${JSON.stringify(r.body)}`);
}

/** A person signed in (fetch), calling central's API with their session. */
async function person(central: FamilyCentral, key: string) {
  const login = await fetch(`${central.http}/login`, { redirect: 'manual' });
  const issuer = new URL(login.headers.get('location') as string).origin;
  const s = await signIn(central.http, { issuer }, key);
  return {
    person_id: s.person_id,
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
    async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
      const res = await fetch(`${central.http}${path}`, {
        method,
        headers: {
          cookie: s.cookie,
          'x-csrf-token': s.csrf,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

async function schoolWithEmma(t: ExecutionContext): Promise<{ central: FamilyCentral; site: TestSite }> {
  const central = await families(t);
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
  site.ledger.catalogue.upsertProduct({
    id: 'slikpose',
    place_id: 'kantinen',
    name: 'Slikpose',
    category: 'slik',
    price_ore: 1000,
  });
  await eventually(
    () => (site.ledger.accounts.getCard(EMMA_CARD)?.state === 'active' ? true : undefined),
    15_000,
    "Emma's card at the school",
  );
  return { central, site };
}

const balanceAt = async (central: FamilyCentral, account: string) =>
  (await central.api('GET', `/api/accounts/${account}`)).body.balance_ore as number;

test.serial(
  'an order paid by canteen card reaches the gateway, a tap shows it, staff hand it out and central marks it udleveret',
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    const today = localDay();
    await menu(central, today);
    const anne = await person(central, 'anne');
    const before = await balanceAt(central, 'konto-emma');

    const menus = await anne.api('GET', `/api/accounts/konto-emma/webshop/menus?from=${today}&to=${today}`);
    t.is(menus.status, 200);
    t.is(menus.body.menus.length, 1);
    const yoghurt = menus.body.menus[0].items.find((i: { product_id: string }) => i.product_id === 'yoghurt');
    t.is(yoghurt.refusal, null);

    const placed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: today,
      lines: [
        { product_id: 'yoghurt', quantity: 1 },
        { product_id: 'ostehoeps', quantity: 2 },
      ],
      payment: 'canteen_card',
    });
    t.is(placed.status, 201, JSON.stringify(placed.body));
    const order = placed.body.order;
    t.is(order.state, 'paid');
    t.is(order.state_da, 'Betalt');
    t.is(order.total_ore, 1_200);
    t.truthy(order.entry_id);
    t.is(await balanceAt(central, 'konto-emma'), before - 1_200);
    t.deepEqual(await central.service.central.money.verify(), [], "central's books hold");

    // Down the link into the gateway's pre-orders; the kitchen's list counts it.
    await eventually(
      () => site.ledger.preorders.openPreorders('konto-emma', 'kantinen').find((p) => p.id === order.id),
      15_000,
      'the order at the site',
    );
    const list = await site.api('till-1', 'GET', `/preorders?date=${today}`);
    t.is(list.status, 200);
    const kitchen = (await list.json()) as { counts: { product_id: string; quantity: number }[] };
    t.deepEqual(
      kitchen.counts.map((c) => [c.product_id, c.quantity]),
      [
        ['ostehoeps', 2],
        ['yoghurt', 1],
      ],
    );

    // A tap with an empty basket: the balance, and the child's paid orders to hand out.
    const reader = await site.reader('laeser-webshop');
    site.ledger.baskets.clearBasket('till-1');
    const tap = await reader.tap(EMMA_CARD);
    t.is(tap.kind === 'decision' ? tap.decision.outcome : tap.kind, 'balance');
    t.deepEqual(
      site.ledger.preorders.openPreorders('konto-emma', 'kantinen').map((p) => p.id),
      [order.id],
    );
    const handed = await site.api('till-1', 'POST', `/preorders/${order.id}/hand-out`);
    t.is(handed.status, 200);
    const done = await until(
      async () => {
        const r = await anne.api('GET', `/api/accounts/konto-emma/webshop/orders/${order.id}`);
        return r.body.order.state === 'handed_out' ? r.body.order : undefined;
      },
      'udleveret at central',
      15_000,
    );
    t.is((await done).state_da, 'Udleveret');
    // Handed out once: not again.
    t.is((await site.api('till-1', 'POST', `/preorders/${order.id}/hand-out`)).status, 409);

    // "Vis ordrer": the child's orders, and the guardian's across the children.
    const listed = await anne.api('GET', '/api/accounts/konto-emma/webshop/orders');
    t.is(listed.status, 200, JSON.stringify(listed.body));
    t.deepEqual(
      listed.body.orders.map((o: { id: string; state: string }) => [o.id, o.state]),
      [[order.id, 'handed_out']],
    );
    const mine = await anne.api('GET', '/api/me/webshop/orders');
    t.is(mine.status, 200);
    t.deepEqual(
      mine.body.orders.map((o: { id: string; first_name: string }) => [o.id, o.first_name]),
      [[order.id, 'Emma']],
    );
    // The statement shows the purchase with its lines.
    const statement = await anne.api('GET', `/api/accounts/konto-emma/statement?from=${today}&to=${today}`);
    t.is(statement.status, 200);
    t.regex(JSON.stringify(statement.body), /Hævet 1x Yoghurt 6\.00 2x Ostehøps 3\.00/);
  },
);

test.serial(
  'the child’s rules refuse an order as the till would: over the day limit, a denied category, an allergen until confirmed, a sold-out item',
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    const tomorrow = localDay(1);
    await menu(central, tomorrow);
    const anne = await person(central, 'anne');
    const order = (lines: { product_id: string; quantity: number }[], more: Record<string, unknown> = {}) =>
      anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
        site_id: SITE,
        place_id: 'kantinen',
        date: tomorrow,
        lines,
        payment: 'canteen_card',
        ...more,
      });

    // Emma's day limit at school is 50 kr: a cheese snack and five bags of sweets are 53 kr.
    const over = await order([
      { product_id: 'ostehoeps', quantity: 1 },
      { product_id: 'slikpose', quantity: 5 },
    ]);
    t.is(over.status, 409);
    t.is(over.body.code, 'limit_exceeded_day');
    // The same answer from a check that books nothing; a basket that fits gives its total.
    const base = { site_id: SITE, place_id: 'kantinen', date: tomorrow, payment: 'canteen_card' };
    const dry = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders/check', {
      ...base,
      lines: [
        { product_id: 'ostehoeps', quantity: 1 },
        { product_id: 'slikpose', quantity: 5 },
      ],
    });
    t.is(dry.body.code, 'limit_exceeded_day');
    const fits = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders/check', {
      ...base,
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
    });
    t.deepEqual(fits.body, { ok: true, total_ore: 300 });

    // Sweets denied: the webshop says what the till says.
    t.is(
      (await central.api('PATCH', '/api/accounts/konto-emma', { denied_categories: ['slik'], allergies: ['maelk'] }))
        .status,
      204,
    );
    const denied = await order([{ product_id: 'slikpose', quantity: 1 }]);
    t.is(denied.status, 409);
    t.is(denied.body.code, 'category_not_allowed');
    await eventually(
      () => (site.ledger.accounts.getAccount('konto-emma')?.denied_categories.includes('slik') ? true : undefined),
      15_000,
      'the denied category at the site',
    );
    const reader = await site.reader('laeser-regler');
    site.ledger.baskets.setBasket('till-1', [{ product_id: 'slikpose', quantity: 1 }]);
    const atTill = await reader.tap(EMMA_CARD);
    t.is(atTill.kind === 'decision' ? atTill.decision.code : atTill.kind, 'category_not_allowed');
    site.ledger.baskets.clearBasket('till-1');

    // The menu shows the refusal and the allergen beforehand.
    const menus = await anne.api('GET', `/api/accounts/konto-emma/webshop/menus?from=${tomorrow}&to=${tomorrow}`);
    const items = Object.fromEntries(
      menus.body.menus[0].items.map((i: { product_id: string }) => [i.product_id, i]),
    ) as Record<string, { refusal: string | null; allergens_hit: string[]; remaining: number | null }>;
    t.is(items.slikpose?.refusal, 'category_not_allowed');
    t.deepEqual(items.yoghurt?.allergens_hit, ['maelk']);
    t.is(items.ostehoeps?.remaining, 3);

    // Milk: stopped until the guardian confirms.
    const milk = await order([{ product_id: 'yoghurt', quantity: 1 }]);
    t.is(milk.status, 409);
    t.is(milk.body.code, 'allergen_check');
    t.deepEqual(milk.body.details, ['maelk']);
    const confirmed = await order([{ product_id: 'yoghurt', quantity: 1 }], { confirm_allergens: true });
    t.is(confirmed.status, 201, JSON.stringify(confirmed.body));

    // The cap: 3 cheese snacks in all.
    t.is((await order([{ product_id: 'ostehoeps', quantity: 2 }])).status, 201);
    const sold = await order([{ product_id: 'ostehoeps', quantity: 2 }]);
    t.is(sold.status, 409);
    t.is(sold.body.code, 'webshop_sold_out');
    // Not on the menu, and a place that has no menu that day.
    t.is((await order([{ product_id: 'grovbolle', quantity: 1 }])).body.code, 'webshop_not_on_menu');
    t.is((await order([{ product_id: 'yoghurt', quantity: 1 }], { date: localDay(5) })).status, 404);
    // The order counts against its own day: 6 + 6 kr ordered, 38 kr left of tomorrow's 50.
    const rest = await order(
      [
        { product_id: 'ostehoeps', quantity: 1 },
        { product_id: 'yoghurt', quantity: 7 },
      ],
      {
        confirm_allergens: true,
      },
    );
    t.is(rest.body.code, 'limit_exceeded_day');
    t.deepEqual(await central.service.central.money.verify(), []);
  },
);

test.serial(
  'cancel before the cancel deadline refunds to the canteen card and takes the order off the till; after it, refused',
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    const tomorrow = localDay(1);
    await menu(central, tomorrow);
    const anne = await person(central, 'anne');
    const before = await balanceAt(central, 'konto-emma');
    const placed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: tomorrow,
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    });
    t.is(placed.status, 201, JSON.stringify(placed.body));
    const id = placed.body.order.id as string;
    await eventually(
      () => (site.ledger.db.prepare('SELECT 1 FROM preorders WHERE id = ?').get(id) ? true : undefined),
      15_000,
      'the order at the site',
    );
    const cancelled = await anne.api('POST', `/api/accounts/konto-emma/webshop/orders/${id}/cancel`);
    t.is(cancelled.status, 200, JSON.stringify(cancelled.body));
    t.is(cancelled.body.order.state, 'refunded');
    t.is(cancelled.body.order.state_da, 'Refunderet');
    t.truthy(cancelled.body.order.refund_entry_id);
    t.is(await balanceAt(central, 'konto-emma'), before);
    await eventually(
      () => (site.ledger.db.prepare('SELECT 1 FROM preorders WHERE id = ?').get(id) ? undefined : true),
      15_000,
      'the order gone from the site',
    );
    // Cancelled once: not again.
    const twice = await anne.api('POST', `/api/accounts/konto-emma/webshop/orders/${id}/cancel`);
    t.is(twice.body.code, 'webshop_order_state');

    // A menu whose cancel deadline has passed (ordering is still open): the order stands.
    const later = localDay(2);
    await menu(central, later, { cancel_deadline: new Date(Date.now() - 60_000).toISOString() });
    const late = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: later,
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    });
    t.is(late.status, 201, JSON.stringify(late.body));
    t.false(late.body.order.cancellable);
    const refused = await anne.api('POST', `/api/accounts/konto-emma/webshop/orders/${late.body.order.id}/cancel`);
    t.is(refused.status, 409);
    t.is(refused.body.code, 'webshop_cancel_closed');
    // A menu whose order deadline has passed: no new order.
    await menu(central, localDay(3), { order_deadline: new Date(Date.now() - 60_000).toISOString() });
    const closed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: localDay(3),
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    });
    t.is(closed.body.code, 'webshop_order_closed');
    t.deepEqual(await central.service.central.money.verify(), []);
  },
);

test.serial(
  'a curious parent can neither order for nor read another child; a relation only once a guardian allows it',
  async (t) => {
    t.timeout(120_000);
    const { central } = await schoolWithEmma(t);
    const tomorrow = localDay(1);
    await menu(central, tomorrow);
    const body = {
      site_id: SITE,
      place_id: 'kantinen',
      date: tomorrow,
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    };
    const anne = await person(central, 'anne');
    const peter = await person(central, 'peter');
    const karen = await person(central, 'karen');

    // Peter (Freja's father) and Emma's account: the same 404 as an account that does not exist.
    for (const [method, path] of [
      ['GET', '/api/accounts/konto-emma/webshop/orders'],
      ['GET', '/api/accounts/konto-emma/webshop/menus'],
      ['POST', '/api/accounts/konto-emma/webshop/orders'],
    ] as const) {
      const r = await peter.api(method, path, method === 'POST' ? body : undefined);
      t.is(r.status, 404, `${method} ${path}`);
      t.is(r.body.code, 'not_found');
    }
    // Noah has no money: refused with the till's code.
    const noah = await anne.api('POST', '/api/accounts/konto-noah/webshop/orders', body);
    t.is(noah.status, 409, JSON.stringify(noah.body));
    t.is(noah.body.code, 'insufficient_funds');

    // Karen is Emma's relation: no webshop until Anne allows it.
    const refused = await karen.api('POST', '/api/accounts/konto-emma/webshop/orders', body);
    t.is(refused.status, 403);
    t.is(refused.body.code, 'webshop_relation_not_allowed');
    t.is((await karen.api('GET', '/api/accounts/konto-emma/webshop/orders')).body.code, 'webshop_relation_not_allowed');
    // Karen cannot allow herself; Anne can.
    t.is(
      (await karen.api('PUT', `/api/accounts/konto-emma/relations/${karen.person_id}/webshop`, { allowed: true }))
        .status,
      403,
    );
    t.is((await anne.api('GET', `/api/accounts/konto-emma/relations/${karen.person_id}/webshop`)).body.allowed, false);
    t.is(
      (await anne.api('PUT', `/api/accounts/konto-emma/relations/${anne.person_id}/webshop`, { allowed: true })).status,
      404,
    );
    t.is(
      (await anne.api('PUT', `/api/accounts/konto-emma/relations/${karen.person_id}/webshop`, { allowed: true }))
        .status,
      204,
    );
    const placed = await karen.api('POST', '/api/accounts/konto-emma/webshop/orders', body);
    t.is(placed.status, 201, JSON.stringify(placed.body));
    t.is(placed.body.order.placed_by.person_id, karen.person_id);
    const id = placed.body.order.id as string;
    // Peter cannot read it through his own child's account either (an order of Emma's under Freja's).
    const other = await peter.api('GET', `/api/accounts/konto-freja/webshop/orders/${id}`);
    t.is(other.status, 404);
    t.is((await peter.api('GET', '/api/me/webshop/orders')).body.orders.length, 0);
    t.is((await anne.api('GET', '/api/me/webshop/orders')).body.orders.length, 1);
    // Allowed no more: refused again.
    t.is(
      (await anne.api('PUT', `/api/accounts/konto-emma/relations/${karen.person_id}/webshop`, { allowed: false }))
        .status,
      204,
    );
    t.is((await karen.api('GET', `/api/accounts/konto-emma/webshop/orders/${id}`)).status, 403);
  },
);

test.serial(
  'a site whose link is down over the order deadline still gets what was paid, and hands it out offline',
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    // A second school whose gateway is off: Emma's card works there too.
    const skovly = await central.addSite('skovly');
    t.is((await central.api('PATCH', '/api/accounts/konto-emma', { sites: [SITE, 'skovly'] })).status, 204);
    const today = localDay();
    const deadline = new Date(Date.now() + 4_000).toISOString();
    await menu(central, today, { site: 'skovly', order_deadline: deadline });
    const anne = await person(central, 'anne');
    const placed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: 'skovly',
      place_id: 'kantinen',
      date: today,
      lines: [{ product_id: 'yoghurt', quantity: 1 }],
      payment: 'canteen_card',
      confirm_allergens: true,
    });
    t.is(placed.status, 201, JSON.stringify(placed.body));
    t.is(placed.body.order.state, 'paid');
    // The deadline passes with Skovly's link down.
    await until(
      async () => {
        const r = await anne.api('GET', `/api/accounts/konto-emma/webshop/menus?from=${today}&to=${today}`);
        const m = r.body.menus.find((x: { site_id: string }) => x.site_id === 'skovly');
        return m && m.open === false ? true : undefined;
      },
      'the deadline passed',
      15_000,
    );
    const order = await anne.api('GET', `/api/accounts/konto-emma/webshop/orders/${placed.body.order.id}`);
    t.is(order.body.order.state, 'paid');
    // Skovly's gateway comes up: the paid order arrives, and is handed out there.
    const skovlySite = await startSite(t, { site: 'skovly', linked: true, config: { central: skovly } });
    const arrived = await eventually(
      () => skovlySite.ledger.preorders.openPreorders('konto-emma', 'kantinen')[0],
      20_000,
      'the order at Skovly',
    );
    t.is(arrived.id, placed.body.order.id);
    t.is((await skovlySite.api('till-1', 'POST', `/preorders/${arrived.id}/hand-out`)).status, 200);
    await until(
      async () => {
        const r = await anne.api('GET', `/api/accounts/konto-emma/webshop/orders/${arrived.id}`);
        return r.body.order.state === 'handed_out' ? true : undefined;
      },
      'udleveret',
      15_000,
    );
    void site;
  },
);

test.serial(
  'canteen staff make a menu at the kiosk: it goes up the link with the products as the site has them',
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    const tomorrow = localDay(1);
    const put = await site.api('till-1', 'PUT', `/menus/${tomorrow}`, {
      order_deadline: lateOn(tomorrow),
      cancel_deadline: lateOn(tomorrow),
      items: [{ product_id: 'yoghurt' }, { product_id: 'stor-grovbolle', cap: 20 }],
    });
    t.is(put.status, 202, await put.clone().text());
    const menus = await until(
      async () => {
        const r = await central.api('GET', `/api/sites/${SITE}/menus?from=${tomorrow}&to=${tomorrow}`);
        return r.body.menus.length > 0 ? r.body.menus : undefined;
      },
      'the menu at central',
      15_000,
    );
    t.is(menus[0].source, 'kiosk');
    t.is(menus[0].place_name, 'Kantinen');
    t.deepEqual(
      menus[0].items.map((i: { product_id: string; price_ore: number; cap: number | null }) => [
        i.product_id,
        i.price_ore,
        i.cap,
      ]),
      [
        ['yoghurt', 600],
        ['stor-grovbolle', 500],
      ].map(([id, price], i) => [id, price, i === 1 ? 20 : null]),
    );
    // A product the place does not sell, and a cancel deadline after the order deadline: refused at the till.
    const unknown = await site.api('till-1', 'PUT', `/menus/${tomorrow}`, {
      order_deadline: lateOn(tomorrow),
      cancel_deadline: lateOn(tomorrow),
      items: [{ product_id: 'kaviar' }],
    });
    t.is(unknown.status, 404);
    const backwards = await site.api('till-1', 'PUT', `/menus/${tomorrow}`, {
      order_deadline: new Date(Date.now() + 3_600_000).toISOString(),
      cancel_deadline: lateOn(tomorrow),
      items: [{ product_id: 'yoghurt' }],
    });
    t.is(backwards.status, 400);
    t.is(((await backwards.json()) as { code: string }).code, 'webshop_menu_invalid');
    // Without a staff session: refused.
    const anon = await site.fetch(`${site.http}/api/tills/till-1/menus/${tomorrow}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order_deadline: lateOn(tomorrow), cancel_deadline: lateOn(tomorrow), items: [] }),
    });
    t.true(anon.status === 401 || anon.status === 403, String(anon.status));
  },
);

test.serial(
  'a paid order nobody collected is refunded where the municipality says so, with a statement line',
  async (t) => {
    t.timeout(120_000);
    const central = await families(t, { webshop: { uncollected: 'refund' } });
    const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
    await eventually(
      () => (site.ledger.accounts.getCard(EMMA_CARD)?.state === 'active' ? true : undefined),
      15_000,
      "Emma's card at the school",
    );
    // An order for a day already gone (as if placed then): settled by the day's upkeep.
    const yesterday = localDay(-2);
    await menu(central, localDay(1));
    const anne = await person(central, 'anne');
    const before = await balanceAt(central, 'konto-emma');
    const placed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: localDay(1),
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    });
    t.is(placed.status, 201, JSON.stringify(placed.body));
    const db = central.service.central.db;
    await db.query('UPDATE webshop_orders SET date = $2 WHERE id = $1', [placed.body.order.id, yesterday]);
    t.is(await central.service.central.webshop.settleUncollected(), 1);
    const order = await anne.api('GET', `/api/accounts/konto-emma/webshop/orders/${placed.body.order.id}`);
    t.is(order.body.order.state, 'refunded');
    t.is(order.body.order.cancel_reason, 'not_collected');
    t.is(await balanceAt(central, 'konto-emma'), before);
    const statement = await anne.api('GET', `/api/accounts/konto-emma/statement?from=${localDay()}&to=${localDay()}`);
    t.regex(JSON.stringify(statement.body), /Webshop-ordre ikke afhentet/);
    t.deepEqual(await central.service.central.money.verify(), []);
  },
);

test.serial(
  "a site that says it handed out tomorrow's order today is not believed: the order stays paid and the guardian may still cancel it",
  async (t) => {
    t.timeout(120_000);
    const { central, site } = await schoolWithEmma(t);
    const tomorrow = localDay(1);
    await menu(central, tomorrow);
    const anne = await person(central, 'anne');
    const placed = await anne.api('POST', '/api/accounts/konto-emma/webshop/orders', {
      site_id: SITE,
      place_id: 'kantinen',
      date: tomorrow,
      lines: [{ product_id: 'ostehoeps', quantity: 1 }],
      payment: 'canteen_card',
    });
    t.is(placed.status, 201, JSON.stringify(placed.body));
    const id = placed.body.order.id as string;
    await eventually(
      () => (site.ledger.db.prepare('SELECT 1 FROM preorders WHERE id = ?').get(id) ? true : undefined),
      15_000,
      'the order at the site',
    );
    // The gateway refuses it (the order's day is tomorrow); a tampered or old gateway reports it anyway.
    t.is((await site.api('till-1', 'POST', `/preorders/${id}/hand-out`)).status, 409);
    site.ledger.escrow?.enqueue({ kind: 'preorder_handed_out', order_id: id, handed_out_at: new Date().toISOString() });
    const refused = await until(
      async () =>
        (
          await central.service.central.db.query<{ code: string }>(
            "SELECT code FROM refused_up WHERE site_id = $1 AND change->>'kind' = 'preorder_handed_out'",
            [SITE],
          )
        )[0],
      'central set the report aside',
      30_000,
    );
    t.is(refused.code, 'preorder_wrong_day');
    const order = await anne.api('GET', `/api/accounts/konto-emma/webshop/orders/${id}`);
    t.is(order.body.order.state, 'paid');
    const cancelled = await anne.api('POST', `/api/accounts/konto-emma/webshop/orders/${id}/cancel`);
    t.is(cancelled.status, 200, JSON.stringify(cancelled.body));
    t.is(cancelled.body.order.state, 'refunded');
  },
);
