/**
 * How amounts and dates look in a mail: Danish conventions (`1.234,50 kr.`, `7. december 2026`)
 * in both languages — the amounts are Danish kroner either way.
 */
const kroner = new Intl.NumberFormat('da-DK', { style: 'currency', currency: 'DKK' });
const dateDa = new Intl.DateTimeFormat('da-DK', { dateStyle: 'long', timeZone: 'Europe/Copenhagen' });
const dateEn = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'Europe/Copenhagen' });
const timeDa = new Intl.DateTimeFormat('da-DK', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'Europe/Copenhagen',
});
const timeEn = new Intl.DateTimeFormat('en-GB', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'Europe/Copenhagen',
});

/** Øre (an integer) as Danish kroner: 123450 → `1.234,50 kr.` (a no-break space before `kr.`). */
export function formatKroner(ore: number): string {
  if (!Number.isSafeInteger(ore)) throw new Error(`formatKroner: ${ore} is not whole øre`);
  // Intl puts a no-break space between the number and "kr."; keep it (it must not wrap).
  return kroner.format(ore / 100);
}

export const formatDate = {
  da: (d: Date) => dateDa.format(d),
  en: (d: Date) => dateEn.format(d),
};

export const formatTime = {
  da: (d: Date) => timeDa.format(d),
  en: (d: Date) => timeEn.format(d),
};

/** Text for HTML: the five characters that matter escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Something that looks like a CPR number (DDMMYY, an optional dash, 4 digits; not part of a
 * longer run of digits). A mail never carries one: the outbox refuses to queue such a mail.
 */
const CPR_LIKE = /(?<![0-9])(0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[0-9]{2}[-\s]?[0-9]{4}(?![0-9])/;

export function looksLikeCpr(s: string): boolean {
  return CPR_LIKE.test(s);
}

/** The part after the last `@` (lower case): what logs show of a recipient. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '?' : address.slice(at + 1).toLowerCase();
}
