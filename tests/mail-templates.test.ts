import { formatKroner, looksLikeCpr, MAIL_TYPES, type Mail, renderMail } from '@kantine/central/mail';
import test from 'ava';
import { EACH } from './helpers/mail.ts';

// Words each mail has in Danish and in English (the amounts in Danish form in both).
const EXPECT: Record<Mail['type'], { da: string[]; en: string[] }> = {
  topup_receipt: {
    da: ['Kvittering for indbetaling', '1.234,50 kr.', 'Ny saldo: 150,75 kr.'],
    en: ['Receipt for your top-up', 'New balance: 150,75 kr.'],
  },
  auto_topup_failed: {
    da: ['Automatisk optankning mislykkedes', '200,00 kr.', 'ikke dækning'],
    en: ['Automatic top-up failed', 'insufficient funds'],
  },
  card_expiring: { da: ['udløber 01/27', '•••• 4242'], en: ['expires 01/27'] },
  low_balance: {
    da: ['er 42,50 kr., under din grænse på 50,00 kr.'],
    en: ['is 42,50 kr., below your threshold of 50,00 kr.'],
  },
  payout_receipt: {
    da: ['Kvittering for udbetaling', '1.234,50 kr.', '1234 ······6789'],
    en: ['Receipt for your withdrawal', 'To account: 1234 ······6789'],
  },
  relation_invite: {
    da: ['Anne Hansen har inviteret dig', 'Tag imod invitationen'],
    en: ['Anne Hansen has invited you', 'Accept the invitation'],
  },
};

test('amounts are Danish kroner with øre: 1.234,50 kr.', (t) => {
  t.is(formatKroner(123450).replace(/\s/g, ' '), '1.234,50 kr.');
  t.is(formatKroner(5).replace(/\s/g, ' '), '0,05 kr.');
  t.is(formatKroner(100000000).replace(/\s/g, ' '), '1.000.000,00 kr.');
  t.throws(() => formatKroner(1.5));
});

for (const type of MAIL_TYPES) {
  test(`${type}: Danish and English, text and HTML, amounts formatted, no CPR number`, (t) => {
    const r = renderMail(EACH[type]);
    const text = r.text.replace(/\u00a0/g, ' ');
    const html = r.html.replace(/\u00a0/g, ' ');
    const [da, en] = text.split('---- English ----');
    t.truthy(en, 'the English part follows the Danish');
    for (const w of EXPECT[type].da) t.true(da?.includes(w), `Danish text has ${w}`);
    for (const w of EXPECT[type].en) t.true(en?.includes(w), `English text has ${w}`);
    t.regex(r.subject, / \/ /, 'the subject has both languages');
    t.regex(html, /^<!doctype html>\n<html lang="da">/);
    t.regex(html, /<section lang="en">/);
    t.regex(html, /<h1[^>]*>/);
    // A fact is a row in HTML (`<th>label</th><td>value</td>`), a `label: value` line in text.
    for (const w of [...EXPECT[type].da, ...EXPECT[type].en].flatMap((x) => x.split(': ')))
      t.true(html.includes(w.replace(/'/g, '&#39;')), `HTML has ${w}`);
    t.false(looksLikeCpr(`${r.subject}${r.text}${r.html}`));
  });
}

test('automatic top-up failed: each reason has its own words, and a suspended agreement says so', (t) => {
  const reasons = {
    card_expired: ['Betalingskortet er udløbet', 'The payment card has expired'],
    insufficient_funds: ['ikke dækning', 'insufficient funds'],
    payment_card_blocked: ['Betalingskortet er spærret', 'The payment card is blocked'],
    canteen_card_blocked: ['Kantinekortet er spærret', 'The canteen card is blocked'],
  } as const;
  for (const [reason, words] of Object.entries(reasons)) {
    const r = renderMail({
      ...(EACH.auto_topup_failed as Extract<Mail, { type: 'auto_topup_failed' }>),
      reason: reason as keyof typeof reasons,
    });
    for (const w of words) t.true(r.text.includes(w), `${reason}: ${w}`);
  }
  const suspended = renderMail({
    ...(EACH.auto_topup_failed as Extract<Mail, { type: 'auto_topup_failed' }>),
    suspended: true,
  });
  t.true(suspended.text.includes('sat i bero'));
  t.true(suspended.text.includes('suspended'));
});

test('names are escaped in HTML and cannot break lines; a link must be http(s)', (t) => {
  const r = renderMail({
    ...(EACH.low_balance as Extract<Mail, { type: 'low_balance' }>),
    child_name: '<b>Mads</b>\r\nBcc: x',
  });
  t.false(r.html.includes('<b>Mads'));
  t.true(r.html.includes('&#60;b&#62;Mads'));
  t.false(/\r/.test(r.text));
  t.true(r.text.includes("<b>Mads</b> Bcc: x'"), 'Danish genitive of a name ending in s… well, in x: an apostrophe');
  t.throws(() =>
    renderMail({
      ...(EACH.relation_invite as Extract<Mail, { type: 'relation_invite' }>),
      link: 'javascript:alert(1)',
    }),
  );
  t.throws(() => renderMail({ ...(EACH.card_expiring as Extract<Mail, { type: 'card_expiring' }>), card_last4: '42' }));
});

test('something that looks like a CPR number is recognised (with or without the dash), an amount is not', (t) => {
  t.true(looksLikeCpr('barn 010203-1234'));
  t.true(looksLikeCpr('0102031234'));
  t.false(looksLikeCpr('1.234,50 kr.'));
  t.false(looksLikeCpr('12345678901')); // 11 digits: not a CPR number
  t.false(looksLikeCpr('po_19 4242'));
});
