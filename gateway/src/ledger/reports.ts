import { KantineError } from '@kantine/protocol';
import type { Db } from './db.ts';
import { dayBounds } from './spend-limits.ts';
import { type StatementLine, type StatementRow, statementLine } from './statement.ts';
import { buildTillReport, type ReportRows, type TillReport } from './till-report.ts';

/** What the ledger's rows add up to: a till's day, an account's statement, the balances' check. */
export class Reports {
  constructor(private readonly d: Db) {}

  /**
   * An account's statement (kontoudtog) for local dates [from, to], newest first: every deposit,
   * purchase (with its line items) and void, each with the balance after it.
   */
  statement(accountId: string, from: string, to: string): StatementLine[] {
    const start = dayBounds(from);
    const end = dayBounds(to);
    if (!start || !end) throw new KantineError('invalid_request', `not a date: ${start ? to : from}`);
    const lines = this.d.db.prepare<[string], { quantity: number; name: string; unit_price_ore: number }>(
      'SELECT quantity, name, unit_price_ore FROM entry_lines WHERE entry_id = ? ORDER BY line_no',
    );
    return this.d.db
      .prepare<[string, string, string], StatementRow>(
        `SELECT id, kind, amount_ore, balance_after_ore, reason, created_at FROM entries
         WHERE account_id = ? AND created_at >= ? AND created_at < ? ORDER BY seq DESC`,
      )
      .all(accountId, start.from, end.to)
      .map((row) => statementLine(row, row.kind === 'purchase' ? lines.all(row.id) : []));
  }

  /** The end-of-day report of one till for a local date (YYYY-MM-DD). */
  tillReport(tillId: string, date: string): TillReport {
    const bounds = dayBounds(date);
    if (!bounds) throw new KantineError('invalid_request', `not a date: ${date}`);
    type Args = [string, string, string];
    const args: Args = [tillId, bounds.from, bounds.to];
    const inDay = 'till_id = ? AND created_at >= ? AND created_at < ?';
    const { db } = this.d;
    return buildTillReport(tillId, date, {
      lines: db
        .prepare<Args, { product_id: string; name: string; quantity: number; unit_price_ore: number }>(
          `SELECT l.product_id, l.name, l.quantity, l.unit_price_ore FROM entries e
           JOIN entry_lines l ON l.entry_id = e.id
           WHERE e.kind = 'purchase' AND e.till_id = ? AND e.created_at >= ? AND e.created_at < ?
           ORDER BY e.seq, l.line_no`,
        )
        .all(...args),
      sales: db
        .prepare<Args, { amount_ore: number }>(`SELECT amount_ore FROM entries WHERE kind = 'purchase' AND ${inDay}`)
        .all(...args),
      voids: db
        .prepare<Args, ReportRows['voids'][number]>(
          `SELECT id, voids_entry_id, amount_ore, reason, staff_id, created_at FROM entries
           WHERE kind = 'void' AND ${inDay} ORDER BY seq`,
        )
        .all(...args),
      declines: db
        .prepare<Args, { code: string; count: number }>(
          // `outcome <> 'approved'` as the partial index `taps_by_till` says it, so SQLite uses it.
          `SELECT code, COUNT(*) AS count FROM taps
           WHERE outcome <> 'approved' AND outcome = 'declined' AND till_id = ? AND decided_at >= ? AND decided_at < ?
           GROUP BY code ORDER BY count DESC, code`,
        )
        .all(...args),
    });
  }

  /** Re-derives every balance from the entries; returns the accounts where they disagree. */
  verify(): { account_id: string; balance_ore: number; entries_sum_ore: number }[] {
    return this.d.db
      .prepare<[], { account_id: string; balance_ore: number; entries_sum_ore: number }>(
        `SELECT a.id AS account_id, a.balance_ore, COALESCE(SUM(e.amount_ore), 0) AS entries_sum_ore
         FROM accounts a LEFT JOIN entries e ON e.account_id = a.id
         GROUP BY a.id HAVING a.balance_ore <> COALESCE(SUM(e.amount_ore), 0)`,
      )
      .all();
  }
}
