/**
 * A double click on "Betal" sends the same order (its id) twice at once: each answer may carry a
 * checkout of its own at the provider. However many of them the guardian pays, the order takes one
 * payment and every other goes back; cancelled, the one it took goes back too — the money comes
 * back exactly once per payment, never kept twice. The fake provider is a real process.
 */
import { SITE_ZONE } from '@kantine/protocol';
import test from 'ava';
import { DateTime } from 'luxon';
import { v7 as uuidv7 } from 'uuid';
import { APPROVED_CARD, PSP_API_KEY } from '../helpers/psp.ts';
import { call, topupRig } from '../helpers/topup.ts';
import { until } from '../helpers/wait.ts';

const tomorrow = DateTime.now().setZone(SITE_ZONE).plus({ days: 1 }).toISODate() as string;
const lateOn = DateTime.fromISO(tomorrow, { zone: SITE_ZONE }).plus({ days: 1, minutes: -1 }).toJSDate().toISOString();

test.serial(
  'two checkouts of one bank-card order (a double click) both paid: the order keeps one payment, the other is refunded, and cancelling refunds the kept one',
  async (t) => {
    t.timeout(180_000);
    const r = await topupRig(t);
    const menu = await call(r, r.admin, 'PUT', `/api/sites/soendervang/menus/kantinen/${tomorrow}`, {
      place_name: 'Kantinen',
      place_kind: 'school',
      order_deadline: lateOn,
      cancel_deadline: lateOn,
      items: [{ product_id: 'boller', name: 'Boller', price_ore: 1_500, category: 'mad', allergens: [], cap: null }],
    });
    t.is(menu.status, 204, menu.text);
    const anne = r.people.anne;
    const id = uuidv7();
    const body = {
      id,
      site_id: 'soendervang',
      place_id: 'kantinen',
      date: tomorrow,
      lines: [{ product_id: 'boller', quantity: 2 }],
      payment: 'bank_card',
    };
    // The clicks race: each answer is the same order, with the checkout the browser goes to.
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => call(r, anne, 'POST', '/api/accounts/konto-emma/webshop/orders', body)),
    );
    for (const a of answers) t.is(a.status, 201, a.text);
    const urls = [...new Set(answers.map((a) => a.body.order.payment_url as string))];
    t.true(urls.length > 1, 'the race made more than one checkout (else this test shows nothing)');

    // The guardian pays every page the clicks opened.
    for (const url of urls) await r.psp.pay(url, APPROVED_CARD);
    const intents = await r.central.db.query<{ provider_payment_id: string }>(
      `SELECT provider_payment_id FROM payment_intents WHERE purpose = 'order' AND ref->>'order_id' = $1`,
      [id],
    );
    t.is(intents.length, urls.length);
    const atProvider = async () => {
      let paid = 0;
      let refunded = 0;
      for (const i of intents) {
        const p = (await (
          await fetch(`${r.psp.url}/v1/payments/${i.provider_payment_id}`, {
            headers: { authorization: `Bearer ${PSP_API_KEY}` },
          })
        ).json()) as { amount_ore: number; state: string; refunded_ore: number };
        if (p.state === 'paid') paid += p.amount_ore;
        refunded += p.refunded_ore;
      }
      return { paid, refunded };
    };
    const order = await until(
      async () => {
        const g = await call(r, anne, 'GET', `/api/accounts/konto-emma/webshop/orders/${id}`);
        return g.body.order.state === 'paid' ? g.body.order : undefined;
      },
      'paid',
      20_000,
    );
    t.is(order.total_ore, 3_000);
    // Every payment is settled at central (the provider's webhooks, or the reconciler).
    await until(
      async () => {
        const rows = await r.central.db.query<{ state: string }>(
          `SELECT state FROM payment_intents WHERE purpose = 'order' AND ref->>'order_id' = $1`,
          [id],
        );
        return rows.every((x) => x.state === 'paid') ? true : undefined;
      },
      'every checkout settled',
      30_000,
    );
    t.deepEqual(await atProvider(), { paid: 3_000 * urls.length, refunded: 3_000 * (urls.length - 1) });

    // Cancelled: the payment it kept goes back, and only that one.
    const cancelled = await call(r, anne, 'POST', `/api/accounts/konto-emma/webshop/orders/${id}/cancel`);
    t.is(cancelled.status, 200, cancelled.text);
    t.is(cancelled.body.order.state, 'refunded');
    t.deepEqual(await atProvider(), { paid: 3_000 * urls.length, refunded: 3_000 * urls.length });
  },
);
