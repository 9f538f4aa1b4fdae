/**
 * A site asks for automatic top-ups; central believes none of it (issue 19 rule 6). A raw login
 * with the site's secret sends what a lying or broken gateway could: a request for an account it
 * does not serve, for a purchase it never made, the same purchase twice, a thousand requests,
 * two at once, more than the day allows — and a request while the canteen card is blocked.
 * Central charges the fake provider only what the agreement allows, and answers every request.
 */
import type { LinkDown, UnsequencedUp, UpChange } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { ACCOUNT, autotopupRig, CARD, GUARDIAN_EMAIL, makeAgreement, type Rig } from './helpers/autotopup.ts';
import { siteLogin } from './helpers/central.ts';
import { until as untilTrue } from './helpers/mail.ts';
import { until } from './helpers/wait.ts';

const SITE = 'atskolen';
const OTHER = 'andenskolen';

type Result = Extract<Extract<LinkDown, { t: 'changes' }>['changes'][number], { kind: 'topup_result' }>;

async function rigWithAgreement(t: ExecutionContext): Promise<Rig> {
  const rig = await autotopupRig(t, { siteId: SITE, autotopup: { max_charges_per_day: 2 } });
  await makeAgreement(rig);
  return rig;
}

/** A raw site: sends changes in order (its own sequence) and reads central's answers. */
async function rawSite(t: ExecutionContext, rig: Rig, site: string) {
  const { secret } = await rig.central.addSite(site);
  const { client, got } = await siteLogin(t, rig.central, site, secret);
  const up = (msg: unknown) => client.publishAsync(`kantine/link/${site}/up`, JSON.stringify(msg), { qos: 1 });
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 0 });
  let seq = 0;
  const now = () => new Date().toISOString();
  const send = async (changes: UnsequencedUp[]) => {
    const sequenced = changes.map((c) => ({ ...c, seq: ++seq })) as UpChange[];
    for (let i = 0; i < sequenced.length; i += 200) {
      await up({ v: 1, t: 'changes', changes: sequenced.slice(i, i + 200) });
    }
    const through = seq;
    await until(
      async () => (got.some((m) => m.t === 'ack' && m.up_cursor >= through) ? true : undefined),
      `central took ${site}'s changes through ${through}`,
      30_000,
    );
  };
  const sale = (id: string, amount: number): UnsequencedUp => ({
    kind: 'entry',
    entry: {
      id,
      account_id: ACCOUNT,
      kind: 'purchase',
      amount_ore: -amount,
      place_kind: 'school',
      budgets: ['balance'],
      created_at: now(),
    },
  });
  const topup = (request_id: string, entry_id: string): UnsequencedUp => ({
    kind: 'topup',
    request_id,
    account_id: ACCOUNT,
    entry_id,
  });
  const results = (): Result[] =>
    got.flatMap((m) => (m.t === 'changes' ? m.changes.filter((c): c is Result => c.kind === 'topup_result') : []));
  const result = (request_id: string) =>
    until(async () => results().find((r) => r.request_id === request_id), `the answer to ${request_id}`, 20_000);
  return { send, sale, topup, results, result };
}

const paidEvents = async (rig: Rig): Promise<number> => {
  const res = await fetch(`${rig.provider.url}/admin/webhooks`, {
    headers: { authorization: 'Bearer autotopup-api-key-0123456789' },
  });
  const body = (await res.json()) as { events: { type: string }[] };
  return body.events.filter((e) => e.type === 'payment.paid').length;
};

test.serial(
  'a lying site gets no more than the agreement allows: not its child, no such purchase, twice, a thousand, two at once, the daily cap',
  async (t) => {
    t.timeout(240_000);
    const rig = await rigWithAgreement(t);
    const central = rig.central.service.central;
    const db = central.db;
    const paidBefore = await paidEvents(rig);
    const site = await rawSite(t, rig, SITE);
    const other = await rawSite(t, rig, OTHER);

    // Two real purchases and their requests in one message: the second finds the first in flight.
    await site.send([
      site.sale('salg-1', 1_200), // 60 → 48 kr
      site.topup('anmodning-1', 'salg-1'),
      site.sale('salg-2', 100),
      site.topup('anmodning-2', 'salg-2'),
      site.topup('anmodning-1b', 'salg-1'), // the same purchase again
      site.topup('anmodning-x', 'aldrig-solgt'), // a purchase never made
    ]);
    t.like(await site.result('anmodning-2'), { outcome: 'failed', code: 'autotopup_in_flight' });
    t.like(await site.result('anmodning-1b'), { outcome: 'failed', code: 'autotopup_unknown_purchase' });
    t.like(await site.result('anmodning-x'), { outcome: 'failed', code: 'autotopup_unknown_purchase' });
    const first = await site.result('anmodning-1');
    t.is(first.outcome, 'deposited');
    t.regex(first.entry_id ?? '', /^autotopup-/);

    // Another school asks for Freja, naming her real purchase: not its child.
    await other.send([other.topup('fremmed-1', 'salg-1')]);
    t.like(await other.result('fremmed-1'), { outcome: 'failed', code: 'link_account_not_served' });

    // A thousand requests for purchases never made: a thousand refusals, nothing charged.
    await site.send(Array.from({ length: 1_000 }, (_, i) => site.topup(`tusind-${i}`, `opdigtet-${i}`)));
    await until(
      async () =>
        new Set(site.results().flatMap((r) => (r.request_id.startsWith('tusind-') ? [r.request_id] : []))).size ===
        1_000
          ? true
          : undefined,
      'a thousand answers',
      30_000,
    );
    t.true(site.results().every((r) => !r.request_id.startsWith('tusind-') || r.code === 'autotopup_unknown_purchase'));

    // A second real top-up today: granted; a third: the daily cap.
    await site.send([site.sale('salg-3', 20_000), site.topup('anmodning-3', 'salg-3')]); // 247 → 47 kr
    t.is((await site.result('anmodning-3')).outcome, 'deposited');
    await site.send([site.sale('salg-4', 20_000), site.topup('anmodning-4', 'salg-4')]);
    t.like(await site.result('anmodning-4'), { outcome: 'failed', code: 'autotopup_daily_cap' });

    const charges = await central.autotopup.charges(ACCOUNT, 100);
    t.deepEqual(
      charges.map((c) => [c.trigger_entry_id, c.state]),
      [
        ['salg-3', 'deposited'],
        ['salg-1', 'deposited'],
      ],
      'two charges, each for a real purchase',
    );
    t.is(await paidEvents(rig), paidBefore + 2, 'the provider charged twice, no more');
    t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 6_000 - 1_200 - 100 - 20_000 * 2 + 20_000 * 2);
    t.deepEqual(await central.money.verify(), []);
    const refused = await db.query<{ site_id: string; code: string; n: number }>(
      'SELECT site_id, code, COUNT(*)::int AS n FROM refused_up GROUP BY site_id, code ORDER BY site_id, code',
    );
    t.deepEqual(refused, [
      { site_id: OTHER, code: 'link_account_not_served', n: 1 },
      { site_id: SITE, code: 'autotopup_unknown_purchase', n: 1_002 },
    ]);
  },
);

test.serial('a blocked canteen card refuses the top-up: nothing is charged and the guardian hears why', async (t) => {
  t.timeout(240_000);
  const rig = await rigWithAgreement(t);
  const central = rig.central.service.central;
  const paidBefore = await paidEvents(rig);
  const site = await rawSite(t, rig, SITE);
  // The sale was made before the block reached the site; central has the card blocked now.
  t.is((await rig.central.api('POST', `/api/cards/${CARD}/block`, {})).status, 204);
  await site.send([site.sale('salg-1', 1_200), site.topup('anmodning-1', 'salg-1')]);
  t.like(await site.result('anmodning-1'), { outcome: 'failed', code: 'account_blocked' });
  const [charge] = await central.autotopup.charges(ACCOUNT);
  t.like(charge, { state: 'failed', reason: 'account_blocked', payment_id: null });
  t.is(await paidEvents(rig), paidBefore, 'nothing charged');
  t.like(await central.autotopup.agreement(ACCOUNT), { state: 'active', failures: 0 }, 'not the card’s fault');
  await untilTrue(async () => (await rig.catcher.mails()).length >= 1, 'the mail');
  const mail = await rig.catcher.mail(0);
  t.is(mail.envelope.to[0], GUARDIAN_EMAIL);
  t.regex(mail.text, /Kantinekortet er spærret/);
  t.regex(mail.text, /The canteen card is blocked/);
});
