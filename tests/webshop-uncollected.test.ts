/**
 * Paid bank-card orders nobody collected, where the municipality refunds them (shopfix): one whose
 * refund the provider refuses does not stop the others; it stays paid with why, finance sees it,
 * and it is refunded on a later try. The fake provider is a real process (its planned fault is
 * the refusal); real Postgres, the dev identity provider.
 */
import { type Central, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { PSP_API_KEY, startPsp } from './helpers/psp.ts';
import { signIn, startCentralWithIdp } from './helpers/sign-in.ts';
import { call } from './helpers/topup.ts';
import { until } from './helpers/wait.ts';

const localDay = (plusDays = 0) => DateTime.now().setZone(SITE_ZONE).plus({ days: plusDays }).toISODate() as string;
const lateOn = (date: string) =>
  DateTime.fromISO(date, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

test.serial(
  'a refused refund of an uncollected order stops only that order; finance sees it and it is retried',
  async (t) => {
    t.timeout(150_000);
    const psp = await startPsp(t);
    const c = await startCentralWithIdp(t, {
      config: { payments: psp.config(), webshop: { uncollected: 'refund' } },
    });
    const central = c.services[0]?.central as Central;
    const r = { base: c.http[0] as string };
    await psp.admin('POST', '/admin/config', { webhook_url: `${r.base}/payments/webhook` });
    await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
    await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
    await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: [] });
    await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: [] });
    await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
    const anne = await signIn(r.base, c.idp, 'anne');
    const admin = (await central.tokens.add('admin', 'shopfix')).token;
    const finance = (await central.tokens.add('finance', 'shopfix')).token;

    const tomorrow = localDay(1);
    const menu = await call(r, admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${tomorrow}`, {
      place_name: 'Kantinen',
      place_kind: 'school',
      order_deadline: lateOn(tomorrow),
      cancel_deadline: lateOn(tomorrow),
      items: [{ product_id: 'boller', name: 'Boller', price_ore: 1_200, category: 'mad', allergens: [], cap: null }],
    });
    t.is(menu.status, 204, menu.text);
    const paidOrder = async (quantity: number) => {
      const placed = await call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', {
        site_id: 'soendervang',
        place_id: 'kantinen',
        date: tomorrow,
        lines: [{ product_id: 'boller', quantity }],
        payment: 'bank_card',
      });
      t.is(placed.status, 201, placed.text);
      await psp.pay(placed.body.order.payment_url);
      const id = placed.body.order.id as string;
      await until(
        async () => {
          const [row] = await central.db.query<{ state: string }>('SELECT state FROM webshop_orders WHERE id = $1', [
            id,
          ]);
          return row?.state === 'paid' ? true : undefined;
        },
        'paid',
        20_000,
      );
      return { id, intent: placed.body.order.payment_intent_id as string };
    };
    const first = await paidOrder(1);
    const second = await paidOrder(2);
    const refundedAt = async (intentId: string) => {
      const intent = await central.payments?.get(intentId);
      const at = await fetch(`${psp.url}/v1/payments/${intent?.provider_payment_id}`, {
        headers: { authorization: `Bearer ${PSP_API_KEY}` },
      });
      return ((await at.json()) as { refunded_ore: number }).refunded_ore;
    };

    // The provider refuses the next request: the first order's refund. Both were for a day already
    // gone (as if placed then), and nobody collected them.
    t.is((await psp.admin('POST', '/admin/faults', { api: { mode: '5xx', count: 1 } })).status, 204);
    await central.db.query('UPDATE webshop_orders SET date = $1', [localDay(-2)]);
    await central.webshop.settleUncollected(); // (the upkeep's timer may have begun the round: the states tell)
    const state = async (id: string) =>
      (await call(r, anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${id}`)).body.order.state;
    t.is(await state(second.id), 'refunded');
    t.is(await refundedAt(second.intent), 2_400);
    t.is(await state(first.id), 'paid', 'its refund failed: still paid, nothing pretended');
    t.is(await refundedAt(first.intent), 0);

    // Finance sees it, with why and when it is tried again; a guardian may not.
    const problems = await call(r, finance, 'GET', '/api/webshop/refund-problems');
    t.is(problems.status, 200, problems.text);
    t.deepEqual(
      problems.body.orders.map((o: { id: string; first_name: string; refund_failures: number }) => [
        o.id,
        o.first_name,
        o.refund_failures,
      ]),
      [[first.id, 'Emma', 1]],
    );
    t.truthy(problems.body.orders[0].refund_failure);
    t.truthy(problems.body.orders[0].refund_retry_at);
    const guardian = await call(r, anne, 'GET', '/api/webshop/refund-problems');
    t.is(guardian.status, 403);

    // Not retried at once (a back-off); when its time comes, refunded.
    t.is(await central.webshop.settleUncollected(), 0);
    // (a second back: Postgres' now() has microseconds, central's clock milliseconds)
    await central.db.query("UPDATE webshop_orders SET refund_retry_at = now() - interval '1 second' WHERE id = $1", [
      first.id,
    ]);
    await central.webshop.settleUncollected();
    t.is(await state(first.id), 'refunded');
    t.is(await refundedAt(first.intent), 1_200);
    t.deepEqual((await call(r, finance, 'GET', '/api/webshop/refund-problems')).body.orders, []);
    t.deepEqual(await central.money.verify(), []);
  },
);
