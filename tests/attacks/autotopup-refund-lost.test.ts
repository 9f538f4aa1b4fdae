/**
 * An automatic top-up charged while the canteen card was blocked is refunded, never deposited
 * (issue 19 rule 6). The refund's answer can be lost on the way back while the provider made it;
 * the charge then waits for a retry. If the card is unblocked meanwhile, that retry must not
 * deposit the money the provider has given back: that would make 200 kr out of nothing.
 * Real central, real fake provider (its `drop_answer` fault loses the refund's answer); the only
 * help is timing — the card is blocked as the charge comes back and unblocked as the refund does.
 */
import type { LinkDown, UpChange } from '@kantine/protocol';
import test from 'ava';
import { ACCOUNT, autotopupRig, CARD, makeAgreement } from '../helpers/autotopup.ts';
import { siteLogin } from '../helpers/central.ts';
import { until } from '../helpers/wait.ts';

const SITE = 'atskolen';

test.serial(
  'a refunded automatic top-up whose refund answer was lost is never deposited after an unblock',
  async (t) => {
    t.timeout(240_000);
    const rig = await autotopupRig(t, { siteId: SITE });
    await makeAgreement(rig, 20_000);
    const central = rig.central.service.central;
    const psp = central.autotopup.psp;
    if (!psp) throw new Error('no provider');
    const before = Number((await central.accounts.get(ACCOUNT))?.balance_ore);

    // The card is blocked at central while the charge is under way (after the provider took it).
    const charge = psp.chargeAgreement.bind(psp);
    let charges = 0;
    psp.chargeAgreement = async (input) => {
      const paid = await charge(input);
      if (++charges === 1 && (await rig.central.api('POST', `/api/cards/${CARD}/block`, {})).status !== 204)
        throw new Error('block');
      return paid;
    };
    // The first refund is made at the provider but its answer is lost; the guardian unblocks the card meanwhile.
    const refund = psp.refund.bind(psp);
    let refunds = 0;
    psp.refund = async (payment_id, amount_ore, key) => {
      if (
        ++refunds === 1 &&
        (await rig.provider.admin('/admin/faults', { api: { mode: 'drop_answer', count: 1 } })) !== 204
      )
        throw new Error('fault');
      try {
        return await refund(payment_id, amount_ore, key);
      } finally {
        if (refunds === 1) await rig.central.api('POST', `/api/cards/${CARD}/unblock`, {});
      }
    };

    // A purchase leaves Freja under the threshold; her school asks for the top-up.
    const { secret } = await rig.central.addSite(SITE);
    const { client, got } = await siteLogin(t, rig.central, SITE, secret);
    const up = (msg: unknown) => client.publishAsync(`kantine/link/${SITE}/up`, JSON.stringify(msg), { qos: 1 });
    await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 0 });
    const changes: UpChange[] = [
      {
        seq: 1,
        kind: 'entry',
        entry: {
          id: 'salg-1',
          account_id: ACCOUNT,
          kind: 'purchase',
          amount_ore: -1_200,
          place_kind: 'school',
          budgets: ['balance'],
          created_at: new Date().toISOString(),
        },
      },
      { seq: 2, kind: 'topup', request_id: 'anmodning-1', account_id: ACCOUNT, entry_id: 'salg-1' },
    ];
    await up({ v: 1, t: 'changes', changes });
    type Result = Extract<Extract<LinkDown, { t: 'changes' }>['changes'][number], { kind: 'topup_result' }>;
    const result = await until(
      async () =>
        got
          .flatMap((m) => (m.t === 'changes' ? m.changes : []))
          .find((c): c is Result => c.kind === 'topup_result' && c.request_id === 'anmodning-1'),
      'the answer to the top-up request',
      60_000,
    );

    t.true(refunds >= 1, 'the charge was refunded');
    t.like(result, { outcome: 'failed', code: 'account_blocked' });
    const [row] = await central.autotopup.charges(ACCOUNT);
    t.like(row, { state: 'failed', reason: 'account_blocked', deposit_entry_id: null });
    // The provider gave the whole charge back …
    const paid = await fetch(`${rig.provider.url}/v1/payments/${encodeURIComponent(row?.payment_id ?? '')}`, {
      headers: { authorization: 'Bearer autotopup-api-key-0123456789' },
    });
    t.like(await paid.json(), { state: 'paid', amount_ore: 20_000, refunded_ore: 20_000 });
    // … so central's balance has only the purchase: no money from nowhere.
    t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), before - 1_200);
    t.deepEqual(await central.money.verify(), []);
  },
);
