import { DateTime } from 'luxon';
import { SITE_ZONE } from './spend-limits.ts';

/** One line of an account's statement (kontoudtog), newest first, as the seeds' portal shows it. */
export interface StatementLine {
  entry_id: string;
  at: string;
  kind: 'deposit' | 'purchase' | 'void';
  /** `Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00`, `Indsat`, `Annulleret: Forkert vare`. */
  text: string;
  amount_ore: number;
  balance_after_ore: number;
}

export interface StatementRow {
  id: string;
  kind: 'deposit' | 'purchase' | 'void';
  amount_ore: number;
  balance_after_ore: number;
  reason: string | null;
  created_at: string;
}

/** Line prices as the statement prints them: `3.00` (a point, as in the seeds' portal). */
const unitPrice = (ore: number) => `${Math.trunc(ore / 100)}.${String(ore % 100).padStart(2, '0')}`;

export function statementLine(
  row: StatementRow,
  lines: { quantity: number; name: string; unit_price_ore: number }[],
): StatementLine {
  const text =
    row.kind === 'purchase'
      ? ['Hævet', ...lines.map((l) => `${l.quantity}x ${l.name} ${unitPrice(l.unit_price_ore)}`)].join(' ')
      : row.kind === 'void'
        ? `Annulleret: ${row.reason ?? ''}`.trim()
        : 'Indsat';
  return {
    entry_id: row.id,
    at: row.created_at,
    kind: row.kind,
    text,
    amount_ore: row.amount_ore,
    balance_after_ore: row.balance_after_ore,
  };
}

/** Øre as the statement prints an amount: `kr.-14,00`, `kr.135,50`. */
export function statementAmount(ore: number): string {
  const sign = ore < 0 ? '-' : '';
  const abs = Math.abs(ore);
  return `kr.${sign}${Math.trunc(abs / 100)},${String(abs % 100).padStart(2, '0')}`;
}

/** A statement line as text, tab-separated like the portal's table: date, type, amount, balance. */
export function formatStatementLine(l: StatementLine): string {
  const at = DateTime.fromISO(l.at, { zone: SITE_ZONE }).toFormat('dd-MM-yyyy HH:mm');
  return [at, l.text, statementAmount(l.amount_ore), statementAmount(l.balance_after_ore)].join('\t');
}
