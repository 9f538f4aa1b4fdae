/**
 * The till API behind the kiosk, over real HTTP: staff sessions, refusals with codes, voids,
 * reports and the live WebSocket.
 */
import test from 'ava';
import WebSocket from 'ws';
import { cards, STAFF, startSite } from './helpers/site.ts';

/** A clock the test moves: the PIN lockout is a minute. */
class TestClock {
  t = new Date('2026-11-23T10:00:00+01:00');
  now(): Date {
    return this.t;
  }
}

const login = (http: string, body: unknown) =>
  fetch(`${http}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

test('every till route refuses a request without a staff session for that till, and changes nothing', async (t) => {
  const site = await startSite(t);
  const routes: [string, string, unknown?][] = [
    ['GET', '/session'],
    ['GET', '/catalogue'],
    ['GET', '/basket'],
    ['PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] }],
    ['DELETE', '/basket'],
    ['POST', '/basket/confirm-allergens', { basket_id: 'b', account_id: 'acc-alma' }],
    ['GET', '/last-sale'],
    ['POST', '/void', { reason: 'Forkert vare' }],
    ['GET', '/report'],
    ['POST', '/preorders/web-1/hand-out'],
    ['GET', '/decisions'],
  ];
  const till2 = await site.login('till-2'); // a session, but for another till
  for (const cookie of [undefined, till2, 'kantine_till=forged']) {
    for (const [method, path, body] of routes) {
      const res = await fetch(`${site.http}/api/tills/till-1${path}`, {
        method,
        headers: { ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      t.is(res.status, 401, `${method} ${path} with ${cookie ?? 'no cookie'}`);
      t.is(((await res.json()) as { code: string }).code, 'not_logged_in');
    }
  }
  t.is(site.ledger.baskets.getBasket('till-1'), undefined);
});

test('a wrong PIN is refused; five in a row from one screen lock it for a minute, even with the right PIN', async (t) => {
  const clock = new TestClock();
  const site = await startSite(t, { clock });
  const attempt = async (pin: string) => {
    const res = await login(site.http, { till_id: 'till-1', staff_id: STAFF.id, pin });
    return [res.status, ((await res.json()) as { code?: string }).code] as const;
  };
  for (let i = 1; i < 5; i++) t.deepEqual(await attempt('0000'), [401, 'wrong_pin']);
  t.deepEqual(await attempt('0000'), [429, 'pin_locked']);
  t.deepEqual(await attempt(STAFF.pin), [429, 'pin_locked'], 'locked even for the right PIN');
  clock.t = new Date(clock.t.getTime() + 61_000);
  const ok = await attempt(STAFF.pin);
  t.is(ok[0], 200);
  t.deepEqual(await attempt('0000'), [401, 'wrong_pin'], 'a good login clears the count');
  // Unknown names answer like wrong PINs; malformed PINs are refused by the schema.
  t.deepEqual(
    await (async () => {
      const res = await login(site.http, { till_id: 'till-1', staff_id: 'nobody', pin: '1234' });
      return [res.status, ((await res.json()) as { code: string }).code];
    })(),
    [401, 'wrong_pin'],
  );
  for (const pin of ['12', '12a4', '123456789']) {
    const res = await login(site.http, { till_id: 'till-1', staff_id: STAFF.id, pin });
    t.is(res.status, 400, pin);
  }
  const unknownTill = await login(site.http, { till_id: 'till-9', staff_id: STAFF.id, pin: STAFF.pin });
  t.is(unknownTill.status, 404);
});

test('logging out ends the session', async (t) => {
  const site = await startSite(t);
  const cookie = await site.login('till-1');
  t.is((await site.api('till-1', 'GET', '/session')).status, 200);
  const out = await fetch(`${site.http}/api/kiosk/logout`, { method: 'POST', headers: { cookie } });
  t.is(out.status, 204);
  t.is((await site.api('till-1', 'GET', '/session')).status, 401);
});

test('the login screen learns tills and staff names, never a PIN', async (t) => {
  const site = await startSite(t);
  const res = await fetch(`${site.http}/api/kiosk/login-options`);
  const body = (await res.json()) as { tills: { id: string }[]; staff: Record<string, unknown>[] };
  t.deepEqual(
    body.tills.map((x) => x.id),
    ['till-1', 'till-2'],
  );
  t.deepEqual(body.staff, [{ id: STAFF.id, name: STAFF.name }]);
  t.notRegex(JSON.stringify(body), /scrypt|pin/i);
});

test('voiding over HTTP: the last sale by default, once, with a reason; the report shows it', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1', 'till-1');
  t.is((await site.api('till-1', 'GET', '/last-sale')).status, 204, 'nothing to void yet');
  t.is((await site.api('till-1', 'POST', '/void', { reason: 'Forkert vare' })).status, 404);
  await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] });
  const r = await reader.tap(cards.alma);
  t.is(r.kind === 'decision' && r.decision.outcome, 'approved');
  const tooShort = await site.api('till-1', 'POST', '/void', { reason: 'x' });
  t.is(tooShort.status, 400);
  const v = await site.api('till-1', 'POST', '/void', { reason: 'Forkert vare' });
  t.is(v.status, 200);
  t.like(await v.json(), { amount_ore: 600, balance_ore: 10_000 });
  const again = await site.api('till-1', 'POST', '/void', {
    entry_id: r.kind === 'decision' ? r.decision.entry_id : '',
    reason: 'Forkert vare',
  });
  t.is(again.status, 409);
  t.is(((await again.json()) as { code: string }).code, 'sale_already_voided');
  const report = (await (await site.api('till-1', 'GET', '/report')).json()) as {
    net_ore: number;
    voids: { staff_id: string }[];
  };
  t.is(report.net_ore, 0);
  t.is(report.voids[0]?.staff_id, STAFF.id, 'the void names who did it');
  t.is((await site.api('till-1', 'GET', '/report?date=2026-13-45')).status, 400);
  t.is((await site.api('till-1', 'GET', '/report?date=yesterday')).status, 400);
});

test('the live socket refuses a stranger and tells staff about each tap at their till, with the child', async (t) => {
  const site = await startSite(t);
  const reader = await site.reader('reader-1', 'till-1');
  const url = `${site.http.replace('http', 'ws')}/api/tills/till-1/live`;
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(url);
    ws.on('close', (code) => resolve(code));
  });
  t.is(refused, 4401);

  const cookie = await site.login('till-1');
  // A browser on the kiosk's own page sends its origin.
  const ws = new WebSocket(url, { headers: { cookie }, origin: site.http });
  t.teardown(() => ws.close());
  const events: { type: string; [k: string]: unknown }[] = [];
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} event`)), 10_000);
      const check = () => {
        const i = events.findIndex((e) => e.type === type);
        if (i < 0) return;
        clearTimeout(timer);
        resolve(events.splice(i, 1)[0] as Record<string, unknown>);
      };
      ws.on('message', check);
      check();
    });
  ws.on('message', (data) => events.push(JSON.parse(String(data))));
  t.like(await next('hello'), { till_id: 'till-1', staff_name: STAFF.name, reader: { state: 'online' } });
  await reader.tap(cards.alma);
  t.like(await next('tap'), {
    decision: { outcome: 'balance', balance_ore: 10_000 },
    child: { account_id: 'acc-alma', first_name: 'Alma' },
    preorders: [],
  });
});
