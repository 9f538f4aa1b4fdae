import { type StatementKind, statementAmount, statementDate, statementText } from '@kantine/protocol';

/** One line of an account's statement (kontoudtog), newest first, as the seeds' portal shows it. */
export interface StatementLine {
  entry_id: string;
  at: string;
  kind: StatementKind;
  /**
   * `Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00`, `Indsat`, `Udbetalt`, `Gebyr: Nyt kort`,
   * `Annulleret: Forkert vare` (the protocol's wording, the same as central's statement).
   */
  text: string;
  amount_ore: number;
  balance_after_ore: number;
}

export interface StatementRow {
  id: string;
  kind: StatementKind;
  amount_ore: number;
  balance_after_ore: number;
  reason: string | null;
  created_at: string;
}

export function statementLine(
  row: StatementRow,
  lines: { quantity: number; name: string; unit_price_ore: number }[],
): StatementLine {
  return {
    entry_id: row.id,
    at: row.created_at,
    kind: row.kind,
    text: statementText(row.kind, row.reason, row.kind === 'purchase' ? lines : []),
    amount_ore: row.amount_ore,
    balance_after_ore: row.balance_after_ore,
  };
}

/** A statement line as text, tab-separated like the portal's table: date, type, amount, balance. */
export function formatStatementLine(l: StatementLine): string {
  return [statementDate(l.at), l.text, statementAmount(l.amount_ore), statementAmount(l.balance_after_ore)].join('\t');
}
