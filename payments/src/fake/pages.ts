/**
 * The fake provider's hosted payment page: plain HTML forms (no JavaScript), Danish with English
 * beside it, like the portal. It never keeps a card number: only the outcome the number stands for.
 */
import { testCards } from './cards.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const kr = (ore: number) => `${Math.floor(ore / 100)},${String(ore % 100).padStart(2, '0')} kr`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="da">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
label{display:block;margin-top:1rem;font-weight:600}input[type=text]{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{margin-top:1.2rem;font-size:1.1rem;padding:.5rem 1.2rem}.error{color:#a00000;font-weight:600}
.en{color:#444;font-weight:400}table{border-collapse:collapse;margin-top:1rem}td{padding:.2rem .6rem;border-bottom:1px solid #ccc}</style>
</head>
<body>
<p><strong>Testbetaling</strong> <span class="en">/ Test payment</span> — kantine fake PSP. Ingen rigtige penge. <span class="en">No real money.</span></p>
${body}
</body>
</html>`;
}

export interface FormView {
  payment_id: string;
  amount_ore: number;
  terms_url: string;
  save_card: boolean;
  error?: { da: string; en: string };
}

export function checkoutPage(v: FormView): string {
  const id = escapeHtml(v.payment_id);
  const error = v.error
    ? `<p class="error" id="form-error" role="alert">${escapeHtml(v.error.da)} <span class="en">/ ${escapeHtml(v.error.en)}</span></p>`
    : '';
  const described = v.error ? ' aria-describedby="form-error"' : '';
  const consent = v.save_card
    ? `<label><input type="checkbox" name="save_card" value="yes"${described}> Gem kortet til automatisk optankning
<span class="en">/ Keep the card for automatic top-up</span></label>`
    : '';
  const cards = testCards
    .map(
      (c) =>
        `<tr><td><code>${c.number}</code></td><td>${escapeHtml(c.da)} <span class="en">/ ${escapeHtml(c.en)}</span></td></tr>`,
    )
    .join('\n');
  return layout(
    'Betal / Pay',
    `<h1>Betal ${kr(v.amount_ore)} <span class="en">/ Pay ${kr(v.amount_ore)}</span></h1>
${error}
<form method="post" action="/pay/${id}">
<label for="card_number">Kortnummer <span class="en">/ Card number</span></label>
<input type="text" id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" required${described}>
<label for="expiry">Udløb (MM/ÅÅ) <span class="en">/ Expiry (MM/YY)</span></label>
<input type="text" id="expiry" name="expiry" autocomplete="cc-exp" required${described}>
<label for="cvc">Kontrolcifre <span class="en">/ CVC</span></label>
<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required${described}>
${consent}
<p><a href="${escapeHtml(v.terms_url)}">Handelsbetingelser <span class="en">/ Terms</span></a></p>
<button type="submit">Betal <span class="en">/ Pay</span></button>
</form>
<form method="post" action="/pay/${id}/cancel"><button type="submit">Annullér <span class="en">/ Cancel</span></button></form>
<h2>Testkort <span class="en">/ Test cards</span></h2>
<p>Alle udløbsdatoer i fremtiden, alle kontrolcifre. <span class="en">Any future expiry, any CVC.</span></p>
<table>${cards}</table>`,
  );
}

export function challengePage(payment_id: string, amount_ore: number): string {
  const id = escapeHtml(payment_id);
  return layout(
    '3-D Secure',
    `<h1>Bekræft betalingen <span class="en">/ Confirm the payment</span></h1>
<p>Din bank beder dig bekræfte ${kr(amount_ore)}. <span class="en">Your bank asks you to confirm ${kr(amount_ore)}.</span></p>
<form method="post" action="/pay/${id}/3ds">
<button type="submit" name="decision" value="approve">Godkend <span class="en">/ Approve</span></button>
<button type="submit" name="decision" value="refuse">Afvis <span class="en">/ Refuse</span></button>
</form>`,
  );
}

export function resultPage(v: { title_da: string; title_en: string; back_url: string }): string {
  return layout(
    v.title_en,
    `<h1>${escapeHtml(v.title_da)} <span class="en">/ ${escapeHtml(v.title_en)}</span></h1>
<p><a href="${escapeHtml(v.back_url)}">Tilbage til kantinen <span class="en">/ Back to the canteen</span></a></p>`,
  );
}
