/**
 * A site keeps one automatic top-up request per account open until central answers it (issue 19
 * rule 6), so a request central cannot answer would block every later top-up of the account. A
 * charge whose outcome stays unknown (the provider answers 5xx to every try) is answered to the
 * site as failed after `answer_within_ms`, once; central keeps asking the provider with the same
 * key (never a second charge, one in flight per account), and when it finally charges, the
 * deposit goes down as usual. A raw site speaks the link; the fake provider runs as its own process.
 */
import test from 'ava';
import { ACCOUNT, API_KEY, autotopupRig, makeAgreement, rawSite } from './helpers/autotopup.ts';
import { until } from './helpers/wait.ts';

const SITE = 'atskolen';

test.serial(
  'a charge of unknown outcome is answered to the site as failed in time; central still charges it once',
  async (t) => {
    t.timeout(180_000);
    const rig = await autotopupRig(t, { siteId: SITE, autotopup: { answer_within_ms: 2_000 } });
    const central = rig.central.service.central;
    await makeAgreement(rig); // 200 kr
    t.is(await rig.provider.admin('/admin/faults', { api: { mode: '5xx', count: 100, match: '/charges' } }), 204);
    const site = await rawSite(t, rig, SITE);
    const first = await site.saleAndRequest('salg-1', 'anmodning-1', 1_200); // 60 → 48 kr
    t.like(first, { outcome: 'failed', code: 'payment_provider_unreachable' });
    const [charge] = await central.autotopup.charges(ACCOUNT);
    t.like(charge, { state: 'pending' }, 'central still asks the provider');

    // The site, answered, asks again after its next purchase: central has one in flight already.
    const second = await site.saleAndRequest('salg-2', 'anmodning-2', 100);
    t.like(second, { outcome: 'failed', code: 'autotopup_in_flight' });

    // The provider answers again: the same charge is made once, and its deposit goes down.
    t.is(await rig.provider.admin('/admin/faults', undefined, 'DELETE'), 204);
    await until(
      async () => site.answers('anmodning-1').find((a) => a.outcome === 'deposited'),
      'the deposit answered',
      30_000,
    );
    // (A raw site acknowledges nothing, so central may send its log again: distinct answers.)
    t.deepEqual(
      [...new Set(site.answers('anmodning-1').map((a) => `${a.outcome} ${a.code ?? a.entry_id}`))],
      ['failed payment_provider_unreachable', `deposited autotopup-${charge?.id}`],
      'answered as unknown, then as deposited',
    );
    t.is(Number((await central.accounts.get(ACCOUNT))?.balance_ore), 4_700 + 20_000);
    const charges = await central.autotopup.charges(ACCOUNT);
    t.is(charges.length, 1);
    t.like(charges[0], { state: 'deposited' });
    const res = await fetch(`${rig.provider.url}/admin/webhooks`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const events = ((await res.json()) as { events: { type: string; payment_id: string }[] }).events;
    t.is(events.filter((e) => e.type === 'payment.paid' && e.payment_id === charges[0]?.payment_id).length, 1);
    t.deepEqual(await central.money.verify(), []);
  },
);
