/**
 * An automatic top-up's charge whose answer the provider lost is asked again with the same key
 * (issue 19 rule 6): the provider answers the first charge again. The guardian may give the
 * agreement a new card before that retry. The retry must still ask the card it first charged —
 * a new charge on the new card under the same key would take the money twice and credit it once.
 * Real central, the fake provider as a process (its `drop_answer` fault), a raw site on the link.
 */
import type { LinkDown, UpChange } from '@kantine/protocol';
import test from 'ava';
import { ACCOUNT, autotopupRig, makeAgreement } from '../helpers/autotopup.ts';
import { siteLogin } from '../helpers/central.ts';
import { until } from '../helpers/wait.ts';

const SITE = 'atskolen';

test.serial(
  'a lost charge retried after the card was replaced charges the first card once, not the new one',
  async (t) => {
    t.timeout(240_000);
    // A long wait before a retry: the card is replaced first, then the retry is made due.
    const rig = await autotopupRig(t, { siteId: SITE, autotopup: { retry_ms: 3_600_000 } });
    const first = await makeAgreement(rig, 20_000);
    const central = rig.central.service.central;
    const charges = async (): Promise<{ payment_id: string; amount_ore: number }[]> => {
      const res = await fetch(`${rig.provider.url}/admin/webhooks`, {
        headers: { authorization: 'Bearer autotopup-api-key-0123456789' },
      });
      const body = (await res.json()) as { events: { type: string; payment_id: string }[] };
      const paid = new Set(body.events.filter((e) => e.type === 'payment.paid').map((e) => e.payment_id));
      const out: { payment_id: string; amount_ore: number }[] = [];
      for (const id of paid) {
        const p = (await (
          await fetch(`${rig.provider.url}/v1/payments/${encodeURIComponent(id)}`, {
            headers: { authorization: 'Bearer autotopup-api-key-0123456789' },
          })
        ).json()) as { amount_ore: number };
        if (p.amount_ore > 0) out.push({ payment_id: id, amount_ore: p.amount_ore });
      }
      return out;
    };
    const before = Number((await central.accounts.get(ACCOUNT))?.balance_ore);

    // The provider charges the first card, and its answer is lost.
    t.is(await rig.provider.admin('/admin/faults', { api: { mode: 'drop_answer', count: 1 } }), 204);
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
    await until(async () => ((await charges()).length === 1 ? true : undefined), 'the first card charged', 30_000);
    await until(
      async () => ((await central.autotopup.charges(ACCOUNT))[0]?.attempts === 1 ? true : undefined),
      'the charge waiting for its retry',
      30_000,
    );

    // The guardian gives the agreement a new card; then the retry is due.
    const second = await makeAgreement(rig, 20_000);
    t.is(second.id, first.id, 'the same agreement');
    t.not(second.provider_agreement_id, first.provider_agreement_id, 'with a new card');
    await central.db.query(`UPDATE autotopup_charges SET next_try_at = now() WHERE state = 'pending'`);

    type Result = Extract<Extract<LinkDown, { t: 'changes' }>['changes'][number], { kind: 'topup_result' }>;
    const result = await until(
      async () =>
        got
          .flatMap((m) => (m.t === 'changes' ? m.changes : []))
          .find((c): c is Result => c.kind === 'topup_result' && c.request_id === 'anmodning-1'),
      'the answer to the top-up request',
      60_000,
    );
    t.is(result.outcome, 'deposited');
    const taken = await charges();
    t.is(taken.length, 1, `the provider charged once: ${JSON.stringify(taken)}`);
    const [row] = await central.autotopup.charges(ACCOUNT);
    t.is(row?.payment_id, taken[0]?.payment_id);
    t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), before - 1_200 + 20_000);
    t.deepEqual(await central.money.verify(), []);
  },
);
