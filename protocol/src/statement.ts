import { DateTime } from 'luxon';
import { SITE_ZONE } from './budgets.ts';

/**
 * The statement (kontoudtog) as the seeds' portal prints it, one wording for the gateway's
 * statement and central's (a guardian sees the same line at the school and in the portal):
 *
 * ```
 * Dato             Type                                                          Beløb      Saldo
 * 18-08-2015 18:24 Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00 1x Stor Grovbolle 5.00 kr.-14,00  kr.135,50
 * 18-08-2015 18:24 Indsat                                                        kr.100,00  kr.149,50
 * ```
 *
 * Only "Hævet" (a purchase) and "Indsat" (a deposit) are the seeds' own words; a withdrawal
 * (udbetaling), a fee (gebyr, e.g. a replacement card) and a void follow the same pattern.
 */
export type StatementKind = 'deposit' | 'withdrawal' | 'fee' | 'purchase' | 'void';

/** The word each kind of entry starts with, in Danish, and the English beside it (CSV, docs). */
export const STATEMENT_WORDS: Readonly<Record<StatementKind, { da: string; en: string }>> = {
  deposit: { da: 'Indsat', en: 'Deposit' },
  withdrawal: { da: 'Udbetalt', en: 'Withdrawal' },
  fee: { da: 'Gebyr', en: 'Fee' },
  purchase: { da: 'Hævet', en: 'Purchase' },
  void: { da: 'Annulleret', en: 'Cancelled sale' },
};

/** The statement's columns, as the seeds' portal heads them, with English beside (CSV header). */
export const STATEMENT_COLUMNS = [
  { da: 'Dato', en: 'Date' },
  { da: 'Type', en: 'Type' },
  { da: 'Beløb', en: 'Amount' },
  { da: 'Saldo', en: 'Balance' },
] as const;

/** A purchase's line items as the statement lists them. */
export interface StatementItem {
  quantity: number;
  name: string;
  unit_price_ore: number;
}

/** Øre as a line price prints: `3.00` (a point, as in the seeds' portal). */
export function statementPrice(ore: number): string {
  return `${Math.trunc(ore / 100)}.${String(ore % 100).padStart(2, '0')}`;
}

/**
 * The text of one line: `Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00`, `Indsat`, `Udbetalt`,
 * `Gebyr: Nyt kort`, `Annulleret: Forkert vare`. A reason follows a colon when there is one.
 */
export function statementText(
  kind: StatementKind,
  reason: string | null | undefined,
  items: readonly StatementItem[],
): string {
  const word = STATEMENT_WORDS[kind].da;
  if (kind === 'purchase') {
    return [word, ...items.map((l) => `${l.quantity}x ${l.name} ${statementPrice(l.unit_price_ore)}`)].join(' ');
  }
  const why = (reason ?? '').trim();
  return why ? `${word}: ${why}` : word;
}

/** Øre as the statement prints an amount: `kr.-14,00`, `kr.135,50`. */
export function statementAmount(ore: number): string {
  const sign = ore < 0 ? '-' : '';
  const abs = Math.abs(ore);
  return `kr.${sign}${Math.trunc(abs / 100)},${String(abs % 100).padStart(2, '0')}`;
}

/** Øre as a number in a Danish spreadsheet: `-14,00` (no thousands separator, a decimal comma). */
export function statementNumber(ore: number): string {
  const sign = ore < 0 ? '-' : '';
  const abs = Math.abs(ore);
  return `${sign}${Math.trunc(abs / 100)},${String(abs % 100).padStart(2, '0')}`;
}

/** A moment as the statement prints it, in Danish local time: `18-08-2015 18:24`. */
export function statementDate(at: string | Date, zone = SITE_ZONE): string {
  const dt = typeof at === 'string' ? DateTime.fromISO(at, { zone }) : DateTime.fromJSDate(at, { zone });
  return dt.setZone(zone).toFormat('dd-MM-yyyy HH:mm');
}
