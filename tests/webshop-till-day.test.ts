/**
 * A pre-order is handed out at its place on its own day only (shopfix), through the till API of a
 * real gateway: an order for tomorrow (or one left from yesterday, which central settles) is
 * refused with `preorder_wrong_day` and nothing changes; at a till of another place it is not
 * found; today's is handed out once. The tap's list shows only today's.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { startSite } from './helpers/site.ts';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
const lines = [{ product_id: 'stor-grovbolle', name: 'Stor Grovbolle', quantity: 1, unit_price_ore: 500 }];

test('a pre-order is handed out only on its own day and at its own place', async (t) => {
  t.timeout(60_000);
  const site = await startSite(t);
  site.ledger.catalogue.upsertPlace({ id: 'klubben', name: 'Klubben', kind: 'club' });
  site.ledger.catalogue.upsertTill({ id: 'klub-1', place_id: 'klubben', name: 'Klubkassen' });
  const put = (id: string, for_date: string) =>
    site.ledger.preorders.putPreorder({ id, account_id: 'acc-alma', place_id: 'kantinen', lines, for_date });
  put('web-tomorrow', localDay(1));
  put('web-yesterday', localDay(-1));
  put('web-today', localDay());
  const state = (id: string) =>
    (site.ledger.db.prepare('SELECT state FROM preorders WHERE id = ?').get(id) as { state: string }).state;

  for (const [id, day] of [
    ['web-tomorrow', localDay(1)],
    ['web-yesterday', localDay(-1)],
  ] as const) {
    const res = await site.api('till-1', 'POST', `/preorders/${id}/hand-out`);
    t.is(res.status, 409, id);
    const body = (await res.json()) as { code: string; details: string[] };
    t.is(body.code, 'preorder_wrong_day', id);
    t.deepEqual(body.details, [day]);
    t.is(state(id), 'paid', `${id}: nothing changed`);
  }
  // Another place's till does not see it at all.
  const elsewhere = await site.api('klub-1', 'POST', '/preorders/web-today/hand-out');
  t.is(elsewhere.status, 404);
  t.is(((await elsewhere.json()) as { code: string }).code, 'preorder_not_found');
  // At a tap: only today's order is offered.
  t.deepEqual(
    site.ledger.preorders.openPreorders('acc-alma', 'kantinen').map((p) => p.id),
    ['web-today'],
  );
  const handed = await site.api('till-1', 'POST', '/preorders/web-today/hand-out');
  t.is(handed.status, 200);
  t.is(state('web-today'), 'handed_out');
  t.is((await site.api('till-1', 'POST', '/preorders/web-today/hand-out')).status, 409);
});
