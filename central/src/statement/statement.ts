import {
  KantineError,
  SITE_ZONE,
  STATEMENT_COLUMNS,
  type StatementItem,
  type StatementKind,
  statementAmount,
  statementDate,
  statementNumber,
  statementPrice,
  statementText,
} from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Store } from '../db/tx.ts';
import type { EntryRow } from '../money/entries.ts';

/** One line of the statement (kontoudtog), in the seeds' wording (protocol's `statementText`). */
export interface StatementLine {
  entry_id: string;
  /** When it happened (ISO 8601, UTC). */
  at: string;
  kind: StatementKind;
  /** `Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00`, `Indsat`, `Udbetalt`, `Gebyr: Nyt kort`, … */
  text: string;
  amount_ore: number;
  balance_after_ore: number;
  /** A purchase's (or a void's) kind of place. */
  place_kind: 'school' | 'club' | null;
  /** A purchase's line items. */
  items: StatementItem[];
  /**
   * A webshop order paid by bank card (shopfix): what the child got, shown for the guardian, but no
   * movement of the canteen card's money — `amount_ore` is 0 and `balance_after_ore` the balance as
   * it stood, so opening + Σ amounts = closing holds and a spreadsheet's sum is the card's own.
   * The price paid by card is `card_ore` (and in the text). Absent on the card's own entries.
   */
  paid_by?: 'card';
  card_ore?: number;
  order_id?: string;
}

export interface Statement {
  account_id: string;
  /** The period's local dates (Europe/Copenhagen), both included. */
  from: string;
  to: string;
  /** The balance before the period's first entry, and after its last. */
  opening_balance_ore: number;
  closing_balance_ore: number;
  /** Newest first, as the seeds' portal lists them. */
  lines: StatementLine[];
}

/**
 * The longest statement one request reads: a year of a child's canteen days is a few thousand
 * lines, and the answer is built in memory. A longer period is asked for in parts.
 */
export const STATEMENT_LINES_MAX = 20_000;
/** The longest period one request may name (days): ten years, the bookkeeping law's horizon and then some. */
export const STATEMENT_DAYS_MAX = 3_700;

/** A local date's start as a UTC moment, or undefined when it is no date. */
function dayStart(date: string): DateTime | undefined {
  const d = DateTime.fromISO(date, { zone: SITE_ZONE });
  return d.isValid && /^\d{4}-\d{2}-\d{2}$/.test(date) ? d.startOf('day') : undefined;
}

/** An account's statement at central: every entry, wherever it was made. */
export class StatementService {
  constructor(private readonly store: Store) {}

  /** The statement for local dates [from, to]; `not_found` for an unknown account. */
  async statement(accountId: string, from: string, to: string): Promise<Statement> {
    const start = dayStart(from);
    const endDay = dayStart(to);
    if (!start) throw new KantineError('invalid_request', `not a date: ${from}`, [`/from not a date: ${from}`]);
    if (!endDay) throw new KantineError('invalid_request', `not a date: ${to}`, [`/to not a date: ${to}`]);
    if (endDay < start)
      throw new KantineError('invalid_request', 'the period ends before it starts', ['/to before /from']);
    if (endDay.diff(start, 'days').days > STATEMENT_DAYS_MAX)
      throw new KantineError('invalid_request', `a statement covers at most ${STATEMENT_DAYS_MAX} days`, [
        `/to more than ${STATEMENT_DAYS_MAX} days after /from`,
      ]);
    const end = endDay.plus({ days: 1 });
    const { db } = this.store;
    const [account] = await db.query<{ id: string }>('SELECT id FROM accounts WHERE id = $1', [accountId]);
    if (!account) throw new KantineError('not_found', `no account ${accountId}`);
    const rows = await db.query<EntryRow>(
      `SELECT seq, id, account_id, kind, amount_ore, balance_after_ore, place_kind, reason, lines, created_at
         FROM entries WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
         ORDER BY seq DESC LIMIT $4`,
      [accountId, start.toJSDate(), end.toJSDate(), STATEMENT_LINES_MAX + 1],
    );
    if (rows.length > STATEMENT_LINES_MAX)
      throw new KantineError('invalid_request', `more than ${STATEMENT_LINES_MAX} lines: choose a shorter period`);
    // The balance before the period: before its oldest line (balances run in booking order), or,
    // with no line in the period, after the last entry booked before it.
    const lines = rows.map(lineOf);
    const oldest = lines.at(-1);
    let opening: number;
    if (oldest) opening = oldest.balance_after_ore - oldest.amount_ore;
    else {
      const [before] = await db.query<{ balance_after_ore: number }>(
        'SELECT balance_after_ore FROM entries WHERE account_id = $1 AND created_at < $2 ORDER BY seq DESC LIMIT 1',
        [accountId, start.toJSDate()],
      );
      opening = Number(before?.balance_after_ore ?? 0);
    }
    const closing = lines[0]?.balance_after_ore ?? opening;
    // Webshop orders paid by bank card (and their refunds), among the card's own lines by time.
    const orders = await db.query<{
      id: string;
      date: string;
      lines: { name: string; quantity: number; unit_price_ore: number }[];
      total_ore: string | number;
      paid_at: Date | null;
      refunded_at: Date | null;
    }>(
      `SELECT id, to_char(date, 'YYYY-MM-DD') AS date, lines, total_ore, paid_at, refunded_at FROM webshop_orders
        WHERE account_id = $1 AND payment = 'bank_card' AND paid_at IS NOT NULL
          AND ((paid_at >= $2 AND paid_at < $3) OR (refunded_at >= $2 AND refunded_at < $3))
        ORDER BY paid_at LIMIT $4`,
      [accountId, start.toJSDate(), end.toJSDate(), STATEMENT_LINES_MAX],
    );
    for (const o of orders) {
      const items = o.lines.map(({ quantity, name, unit_price_ore }) => ({ quantity, name, unit_price_ore }));
      const total = Number(o.total_ore);
      const what = items.map((l) => `${l.quantity}x ${l.name} ${statementPrice(l.unit_price_ore)}`).join(' ');
      const moments: [Date, string, StatementItem[]][] = [];
      if (o.paid_at && o.paid_at >= start.toJSDate() && o.paid_at < end.toJSDate())
        moments.push([o.paid_at, `Betalt med kort: Webshop ${o.date} ${what} (${statementAmount(total)})`, items]);
      if (o.refunded_at && o.refunded_at >= start.toJSDate() && o.refunded_at < end.toJSDate())
        moments.push([o.refunded_at, `Refunderet til kort: Webshop ${o.date} (${statementAmount(total)})`, []]);
      for (const [at, text, its] of moments) {
        // The balance as it stood then: after the newest of the card's lines before it.
        const i = lines.findIndex((l) => l.paid_by === undefined && new Date(l.at) <= at);
        const balance = i === -1 ? opening : (lines[i] as StatementLine).balance_after_ore;
        const line: StatementLine = {
          entry_id: `ordre-${o.id}${its.length === 0 ? '-refusion' : ''}`,
          at: at.toISOString(),
          kind: its.length === 0 ? 'void' : 'purchase',
          text,
          amount_ore: 0,
          balance_after_ore: balance,
          place_kind: null,
          items: its,
          paid_by: 'card',
          card_ore: total,
          order_id: o.id,
        };
        const before = lines.findIndex((l) => new Date(l.at) <= at);
        lines.splice(before === -1 ? lines.length : before, 0, line);
      }
    }
    return {
      account_id: accountId,
      from,
      to,
      opening_balance_ore: opening,
      closing_balance_ore: closing,
      lines,
    };
  }
}

function lineOf(e: EntryRow): StatementLine {
  const items =
    e.kind === 'purchase'
      ? (e.lines ?? []).map(({ quantity, name, unit_price_ore }) => ({ quantity, name, unit_price_ore }))
      : [];
  return {
    entry_id: e.id,
    at: new Date(e.created_at).toISOString(),
    kind: e.kind,
    text: statementText(e.kind, e.reason, items),
    amount_ore: Number(e.amount_ore),
    balance_after_ore: Number(e.balance_after_ore),
    place_kind: e.place_kind,
    items,
  };
}

/** A CSV cell: quoted, inner quotes doubled; a text a spreadsheet would run as a formula is defused. */
function cell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replaceAll('"', '""')}"`;
}

/**
 * The statement as CSV for a Danish spreadsheet: `;` between cells (the comma is the decimal
 * mark), amounts in kroner with a decimal comma, the seeds' Danish column names with English
 * beside them, a byte-order mark so Excel reads æ, ø and å, and CRLF line ends (RFC 4180).
 */
export function statementCsv(s: Statement): string {
  const head = STATEMENT_COLUMNS.map((c) => cell(`${c.da} (${c.en})`));
  const rows = s.lines.map((l) =>
    [cell(statementDate(l.at)), cell(l.text), statementNumber(l.amount_ore), statementNumber(l.balance_after_ore)].join(
      ';',
    ),
  );
  return `\uFEFF${[head.join(';'), ...rows].join('\r\n')}\r\n`;
}
