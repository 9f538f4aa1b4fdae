/**
 * A guardian's "may use the webshop" is for a relation as they are tied to the child: removed
 * from the child, the relation's permission goes with the tie. Added again later (by the same
 * guardian, or by the other one who never allowed it) they start where every relation starts —
 * not allowed — never with a permission left over from before.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { cprOf, families } from '../helpers/portal.ts';
import { signIn } from '../helpers/sign-in.ts';

const tomorrow = DateTime.now().setZone(SITE_ZONE).plus({ days: 1 }).toISODate() as string;
const lateOn = DateTime.fromISO(tomorrow, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

test.serial('a relation removed and added again is not allowed the webshop by a permission given before', async (t) => {
  t.timeout(120_000);
  const central = await families(t);
  const login = await fetch(`${central.http}/login`, { redirect: 'manual' });
  const issuer = new URL(login.headers.get('location') as string).origin;
  const as = async (key: string) => {
    const s = await signIn(central.http, { issuer }, key);
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
    return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
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
    };
  };
  const put = await central.api('PUT', `/api/sites/soendervang/menus/kantinen/${tomorrow}`, {
    place_name: 'Kantinen',
    place_kind: 'school',
    order_deadline: lateOn,
    cancel_deadline: lateOn,
    items: [{ product_id: 'boller', name: 'Boller', price_ore: 500, category: 'mad', allergens: [], cap: null }],
  });
  t.is(put.status, 204, JSON.stringify(put.body));
  const order = {
    site_id: 'soendervang',
    place_id: 'kantinen',
    date: tomorrow,
    lines: [{ product_id: 'boller', quantity: 1 }],
    payment: 'canteen_card',
  };
  const anne = await as('anne');
  let karen = await as('karen');
  const karenId = (await karen('GET', '/api/me')).body.person_id as string;
  t.truthy(karenId);

  // Anne lets Karen use the webshop for Emma: Karen reads Emma's menus and orders.
  t.is((await karen('GET', '/api/accounts/konto-emma/webshop/menus')).body.code, 'webshop_relation_not_allowed');
  t.is((await anne('PUT', `/api/accounts/konto-emma/relations/${karenId}/webshop`, { allowed: true })).status, 204);
  t.is((await karen('GET', '/api/accounts/konto-emma/webshop/menus')).status, 200);
  t.is((await karen('GET', '/api/accounts/konto-emma/webshop/orders')).status, 200);

  // Anne takes Karen off Emma's account; later Karen is added again by her CPR number and signs in.
  t.is((await anne('POST', `/api/accounts/konto-emma/relations/${karenId}/remove`)).status, 204);
  t.is((await karen('GET', '/api/accounts/konto-emma/webshop/orders')).status, 404);
  t.is((await anne('POST', '/api/accounts/konto-emma/relations', { cpr: cprOf('karen') })).status, 201);
  karen = await as('karen');
  t.is((await karen('GET', '/api/me')).body.person_id, karenId);

  // A relation again — and not allowed the webshop until a guardian says so anew.
  t.is((await anne('GET', `/api/accounts/konto-emma/relations/${karenId}/webshop`)).body.allowed, false);
  const again = await karen('POST', '/api/accounts/konto-emma/webshop/orders', order);
  t.is(again.status, 403, JSON.stringify(again.body));
  t.is(again.body.code, 'webshop_relation_not_allowed');
  t.is((await karen('GET', '/api/accounts/konto-emma/webshop/menus')).body.code, 'webshop_relation_not_allowed');
  t.is((await karen('GET', '/api/me/webshop/orders')).body.orders.length, 0);
});
