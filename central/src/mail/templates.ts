import { escapeHtml, formatDate, formatKroner, formatTime } from './format.ts';

/** Why an automatic top-up was not paid (issue 19): each has its own words in the mail. */
export type AutoTopupFailure =
  | 'card_expired'
  | 'insufficient_funds'
  | 'payment_card_blocked'
  | 'canteen_card_blocked'
  | 'declined';

/**
 * Every mail kantine sends, by type, with what it needs. Names are first names (what a guardian
 * sees in the portal); no field is ever a CPR number, and the outbox refuses a mail that holds
 * something that looks like one.
 */
export type Mail =
  | {
      type: 'topup_receipt';
      child_name: string;
      amount_ore: number;
      balance_ore: number;
      paid_at: Date;
      /** The payment's reference (the provider's or ours) for the guardian's own books. */
      payment_ref: string;
      /** An automatic top-up (the agreement), not one the guardian made by hand. */
      automatic?: boolean;
    }
  | {
      type: 'auto_topup_failed';
      child_name: string;
      amount_ore: number;
      reason: AutoTopupFailure;
      /** The agreement is suspended after this failure (too many in a row). */
      suspended: boolean;
    }
  | {
      type: 'card_expiring';
      child_name: string;
      /** The stored payment card's last four digits, e.g. `4242` (when the provider tells them). */
      card_last4?: string;
      expires_month: number;
      expires_year: number;
    }
  | { type: 'low_balance'; child_name: string; balance_ore: number; threshold_ore: number }
  | {
      type: 'payout_receipt';
      child_name: string;
      amount_ore: number;
      /** The bank account as the guardian may see it: reg.nr and the last digits only (`1234 ······6789`). */
      to_account: string;
      /** nemkonto: the payout goes to the guardian's NemKonto (the text says so; no number at all). */
      to_nemkonto?: boolean;
      payout_ref: string;
      requested_at: Date;
    }
  | { type: 'relation_invite'; inviter_name: string; child_name: string; link: string; expires_at: Date };

export type MailType = Mail['type'];
export const MAIL_TYPES: readonly MailType[] = [
  'topup_receipt',
  'auto_topup_failed',
  'card_expiring',
  'low_balance',
  'payout_receipt',
  'relation_invite',
];

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

/** One language's part of a mail. */
interface Part {
  heading: string;
  paragraphs: string[];
  facts?: [label: string, value: string][];
  action?: { label: string; href: string };
}

const FAILURE: Record<AutoTopupFailure, { da: string; en: string }> = {
  card_expired: {
    da: 'Betalingskortet er udløbet. Tilføj et nyt kort til aftalen i portalen.',
    en: 'The payment card has expired. Add a new card to the agreement in the portal.',
  },
  insufficient_funds: {
    da: 'Der var ikke dækning på betalingskortet.',
    en: 'The payment card had insufficient funds.',
  },
  payment_card_blocked: {
    da: 'Betalingskortet er spærret. Tilføj et andet kort til aftalen i portalen.',
    en: 'The payment card is blocked. Add another card to the agreement in the portal.',
  },
  declined: {
    da: 'Betalingen blev afvist af kortudstederen. Prøv et andet kort, eller kontakt din bank.',
    en: 'The card issuer declined the payment. Try another card, or contact your bank.',
  },
  canteen_card_blocked: {
    da: 'Kantinekortet er spærret, så der blev ikke fyldt op. Kontakt skolen, hvis det er en fejl.',
    en: 'The canteen card is blocked, so nothing was topped up. Contact the school if this is a mistake.',
  },
};

/** A name as text: no control characters or line breaks, at most 100 characters. */
function clean(s: string): string {
  return s
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ')
    .trim()
    .slice(0, 100);
}

/** Danish genitive: `Frejas`, but `Mads'` (a name ending in s, x or z takes an apostrophe). */
function genDa(name: string): string {
  return /[sxz]$/i.test(name) ? `${name}'` : `${name}s`;
}

function twoLanguages(mail: Mail): { subject: { da: string; en: string }; da: Part; en: Part } {
  switch (mail.type) {
    case 'topup_receipt': {
      const child = clean(mail.child_name);
      const amount = formatKroner(mail.amount_ore);
      const balance = formatKroner(mail.balance_ore);
      const ref = clean(mail.payment_ref);
      return {
        subject: { da: 'Kvittering for indbetaling', en: 'Receipt for your top-up' },
        da: {
          heading: 'Kvittering for indbetaling',
          paragraphs: [
            `${mail.automatic ? 'Den automatiske optankning' : 'Indbetalingen'} på ${amount} til ${genDa(child)} kantinekort er modtaget.`,
          ],
          facts: [
            ['Beløb', amount],
            ['Ny saldo', balance],
            ['Tidspunkt', formatTime.da(mail.paid_at)],
            ['Reference', ref],
          ],
        },
        en: {
          heading: 'Receipt for your top-up',
          paragraphs: [
            `${mail.automatic ? 'The automatic top-up' : 'The top-up'} of ${amount} to ${child}'s canteen card has been received.`,
          ],
          facts: [
            ['Amount', amount],
            ['New balance', balance],
            ['Time', formatTime.en(mail.paid_at)],
            ['Reference', ref],
          ],
        },
      };
    }
    case 'auto_topup_failed': {
      const child = clean(mail.child_name);
      const amount = formatKroner(mail.amount_ore);
      const why = FAILURE[mail.reason];
      if (!why) throw new Error(`auto_topup_failed: unknown reason ${String(mail.reason)}`);
      return {
        subject: { da: 'Automatisk optankning mislykkedes', en: 'Automatic top-up failed' },
        da: {
          heading: 'Automatisk optankning mislykkedes',
          paragraphs: [
            `Vi kunne ikke fylde ${amount} på ${genDa(child)} kantinekort.`,
            `Årsag: ${why.da}`,
            mail.suspended
              ? 'Aftalen om automatisk optankning er sat i bero efter flere fejl i træk. Genoptag den i portalen.'
              : 'Vi prøver igen næste gang saldoen kommer under grænsen.',
          ],
        },
        en: {
          heading: 'Automatic top-up failed',
          paragraphs: [
            `We could not top up ${amount} to ${child}'s canteen card.`,
            `Reason: ${why.en}`,
            mail.suspended
              ? 'The automatic top-up agreement is suspended after several failures in a row. Resume it in the portal.'
              : 'We will try again the next time the balance falls below the threshold.',
          ],
        },
      };
    }
    case 'card_expiring': {
      const child = clean(mail.child_name);
      if (mail.card_last4 !== undefined && !/^[0-9]{4}$/.test(mail.card_last4))
        throw new Error('card_expiring: card_last4 is four digits');
      if (!Number.isInteger(mail.expires_month) || mail.expires_month < 1 || mail.expires_month > 12)
        throw new Error('card_expiring: expires_month is 1–12');
      const when = `${String(mail.expires_month).padStart(2, '0')}/${String(mail.expires_year % 100).padStart(2, '0')}`;
      return {
        subject: { da: 'Dit betalingskort udløber snart', en: 'Your payment card expires soon' },
        da: {
          heading: 'Dit betalingskort udløber snart',
          paragraphs: [
            `Betalingskortet, der bruges til automatisk optankning af ${genDa(child)} kantinekort, udløber ${when}.`,
            'Skift kortet i portalen, så optankningen fortsætter.',
          ],
          ...(mail.card_last4 ? { facts: [['Kort', `•••• ${mail.card_last4}`]] as [string, string][] } : {}),
        },
        en: {
          heading: 'Your payment card expires soon',
          paragraphs: [
            `The payment card used for automatic top-up of ${child}'s canteen card expires ${when}.`,
            'Change the card in the portal so the top-ups continue.',
          ],
          ...(mail.card_last4 ? { facts: [['Card', `•••• ${mail.card_last4}`]] as [string, string][] } : {}),
        },
      };
    }
    case 'low_balance': {
      const child = clean(mail.child_name);
      const balance = formatKroner(mail.balance_ore);
      const threshold = formatKroner(mail.threshold_ore);
      return {
        subject: { da: 'Lav saldo på kantinekortet', en: 'Low balance on the canteen card' },
        da: {
          heading: 'Lav saldo på kantinekortet',
          paragraphs: [
            `Saldoen på ${genDa(child)} kantinekort er ${balance}, under din grænse på ${threshold}.`,
            'Du kan fylde kortet op i portalen. Du får højst én sådan besked om dagen.',
          ],
        },
        en: {
          heading: 'Low balance on the canteen card',
          paragraphs: [
            `The balance on ${child}'s canteen card is ${balance}, below your threshold of ${threshold}.`,
            'You can top up the card in the portal. You get at most one such message a day.',
          ],
        },
      };
    }
    case 'payout_receipt': {
      const child = clean(mail.child_name);
      const amount = formatKroner(mail.amount_ore);
      const account = clean(mail.to_account);
      const ref = clean(mail.payout_ref);
      return {
        subject: { da: 'Kvittering for udbetaling', en: 'Receipt for your withdrawal' },
        da: {
          heading: 'Kvittering for udbetaling',
          paragraphs: [
            `${amount} er trukket fra ${genDa(child)} kantinekort og bliver overført ${mail.to_nemkonto ? 'til din NemKonto' : 'til din bankkonto'} med næste udbetaling.`,
          ],
          facts: [
            ['Beløb', amount],
            ['Til konto', mail.to_nemkonto ? 'Din NemKonto' : account],
            ['Bestilt', formatTime.da(mail.requested_at)],
            ['Reference', ref],
          ],
        },
        en: {
          heading: 'Receipt for your withdrawal',
          paragraphs: [
            `${amount} has been taken from ${child}'s canteen card and will be transferred ${mail.to_nemkonto ? 'to your NemKonto' : 'to your bank account'} with the next payout.`,
          ],
          facts: [
            ['Amount', amount],
            ['To account', mail.to_nemkonto ? 'Your NemKonto' : account],
            ['Requested', formatTime.en(mail.requested_at)],
            ['Reference', ref],
          ],
        },
      };
    }
    case 'relation_invite': {
      const child = clean(mail.child_name);
      const inviter = clean(mail.inviter_name);
      if (!/^https?:\/\/[^\s<>"']+$/.test(mail.link)) throw new Error('relation_invite: link is an http(s) URL');
      return {
        subject: { da: 'Invitation til kantinekortet', en: 'Invitation to the canteen card' },
        da: {
          heading: 'Du er inviteret',
          paragraphs: [
            `${inviter} har inviteret dig til at følge og fylde op på ${genDa(child)} kantinekort.`,
            `Linket virker én gang og udløber ${formatDate.da(mail.expires_at)}. Du logger ind med MitID.`,
            'Kender du ikke afsenderen, kan du se bort fra denne mail.',
          ],
          action: { label: 'Tag imod invitationen', href: mail.link },
        },
        en: {
          heading: 'You are invited',
          paragraphs: [
            `${inviter} has invited you to follow and top up ${child}'s canteen card.`,
            `The link works once and expires on ${formatDate.en(mail.expires_at)}. You sign in with MitID.`,
            'If you do not know the sender, you can ignore this mail.',
          ],
          action: { label: 'Accept the invitation', href: mail.link },
        },
      };
    }
    default: {
      const never: never = mail;
      throw new Error(`unknown mail type ${(never as { type: string }).type}`);
    }
  }
}

const FOOTER = {
  da: 'Denne mail er sendt automatisk fra kantinesystemet. Du kan ikke svare på den.',
  en: 'This mail was sent automatically by the canteen system. Replies are not read.',
};

function partText(p: Part, footer: string): string {
  const lines = [p.heading, '', ...p.paragraphs.flatMap((x) => [x, ''])];
  if (p.facts) lines.push(...p.facts.map(([k, v]) => `${k}: ${v}`), '');
  if (p.action) lines.push(`${p.action.label}:`, p.action.href, '');
  lines.push(footer);
  return lines.join('\n');
}

function partHtml(p: Part, lang: 'da' | 'en', footer: string): string {
  const out = [`<section lang="${lang}">`, `<h1 style="font-size:1.3em">${escapeHtml(p.heading)}</h1>`];
  for (const x of p.paragraphs) out.push(`<p>${escapeHtml(x)}</p>`);
  if (p.facts) {
    out.push('<table style="border-collapse:collapse">');
    for (const [k, v] of p.facts)
      out.push(
        `<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`,
      );
    out.push('</table>');
  }
  if (p.action)
    out.push(
      `<p><a href="${escapeHtml(p.action.href)}" style="color:#0b4f8a;font-weight:bold">${escapeHtml(p.action.label)}</a></p>`,
      `<p style="font-size:0.9em">${escapeHtml(p.action.href)}</p>`,
    );
  out.push(`<p style="font-size:0.9em;color:#444">${escapeHtml(footer)}</p>`, '</section>');
  return out.join('\n');
}

/**
 * The mail in Danish with English below it: a subject with both, plain text, and simple HTML
 * (real headings, a table with row headers, the link written out, each part marked with its
 * language) that reads well in a screen reader and in a client that shows no styles.
 */
export function renderMail(mail: Mail): Rendered {
  const m = twoLanguages(mail);
  const subject = `${m.subject.da} / ${m.subject.en}`;
  const text = `${partText(m.da, FOOTER.da)}\n\n---- English ----\n\n${partText(m.en, FOOTER.en)}\n`;
  const html = [
    '<!doctype html>',
    '<html lang="da">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#111;max-width:40em">',
    partHtml(m.da, 'da', FOOTER.da),
    '<hr>',
    partHtml(m.en, 'en', FOOTER.en),
    '</body>',
    '</html>',
    '',
  ].join('\n');
  return { subject, text, html };
}
