/**
 * The low-balance alert (issue 19 rule 9) and the warning before a stored card expires, mailed
 * through the real SMTP catcher: a guardian's threshold mails once as the balance falls under it,
 * at most once a day per account; a card whose last month is near is warned about once.
 */
import test from 'ava';
import { ACCOUNT, autotopupRig, type CaughtMail, GUARDIAN_EMAIL, makeAgreement } from './helpers/autotopup.ts';
import { until } from './helpers/mail.ts';

test.serial(
  'the low-balance alert mails once as the balance falls under the threshold, and at most once a day',
  async (t) => {
    t.timeout(240_000);
    const rig = await autotopupRig(t, { atNoSite: true }); // 60 kr, all at central
    const central = rig.central.service.central;
    const at = central.autotopup;
    const refused = await t.throwsAsync(at.setLowBalanceAlert(ACCOUNT, rig.guardian, 12_345));
    t.is((refused as { code?: string }).code, 'low_balance_threshold_invalid');
    await at.setLowBalanceAlert(ACCOUNT, rig.guardian, 5_000);
    t.is(await at.lowBalanceAlert(ACCOUNT, rig.guardian), 5_000);
    t.is(await at.alertLowBalances(), 0, 'over the threshold: nothing');

    const withdraw = (amount_ore: number) =>
      rig.central.api('POST', `/api/accounts/${ACCOUNT}/withdrawals`, { amount_ore, kind: 'fee', reason: 'test' });
    t.is((await withdraw(1_500)).status, 201); // 45 kr
    t.is(await at.alertLowBalances(), 1, 'it fell under: one mail');
    t.is(await at.alertLowBalances(), 0, 'still under: no more');
    t.is((await rig.central.api('POST', `/api/accounts/${ACCOUNT}/deposits`, { amount_ore: 2_000 })).status, 201);
    t.is(await at.alertLowBalances(), 0, 'back over it: nothing, but the alert is armed again');
    t.is((await withdraw(2_000)).status, 201);
    t.is(await at.alertLowBalances(), 0, 'under it again the same day: no second mail');

    await until(async () => (await rig.catcher.mails()).length >= 1, 'the alert');
    const mails = await rig.catcher.mails();
    t.is(mails.length, 1);
    t.is((mails[0] as CaughtMail).envelope.to[0], GUARDIAN_EMAIL);
    t.regex((mails[0] as CaughtMail).subject, /saldo/i);
    t.regex((mails[0] as CaughtMail).text.replace(/\u00a0/g, ' '), /45,00 kr/);

    await at.setLowBalanceAlert(ACCOUNT, rig.guardian, null);
    t.is(await at.lowBalanceAlert(ACCOUNT, rig.guardian), null, 'turned off');
  },
);

test.serial(
  'a stored card near its last month is warned about once; a new card is warned about again only when it is near',
  async (t) => {
    t.timeout(240_000);
    const rig = await autotopupRig(t);
    const at = rig.central.service.central.autotopup;
    const now = new Date();
    const thisMonth = `${String(now.getUTCMonth() + 1).padStart(2, '0')}/${String(now.getUTCFullYear() % 100).padStart(2, '0')}`;
    const agreement = await makeAgreement(rig, 20_000, '4571000000000001', thisMonth);
    t.regex(agreement.card_expiry, /^\d{4}-\d{2}$/);
    t.is(await at.warnExpiring(), 1);
    t.is(await at.warnExpiring(), 0, 'once per card');
    await until(async () => (await rig.catcher.mails()).length >= 1, 'the warning');
    const mail = await rig.catcher.mail(0);
    t.is(mail.envelope.to[0], GUARDIAN_EMAIL);
    t.regex(mail.subject, /Dit betalingskort udløber snart/);
    t.regex(mail.text, /•••• 0001/, 'the card named by its last four digits');

    // A new card far from its end: nothing to warn about; the agreement keeps its id.
    const renewed = await makeAgreement(rig, 20_000, '4571000000000001', '12/39');
    t.is(renewed.id, agreement.id);
    t.is(renewed.card_expiry, '2039-12');
    t.is(await at.warnExpiring(), 0);
  },
);
