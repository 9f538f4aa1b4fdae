/**
 * Reconciliation (issue 19, rule 10): one day's payments at the provider against the deposits in
 * central's ledger. The report reads central's own records (the intents and their entries); the
 * check also asks the provider about every payment of the day and fails loudly on any difference:
 * a payment the provider took that central did not credit, a credit without a paid payment, an
 * amount that differs. The latest check's count is the metric
 * `kantine_central_reconciliation_differences`. Days are Danish calendar days. Automatic top-ups
 * (charges on a stored card, central/src/autotopup/) are payments too: each charge is a row of
 * purpose `autotopup`, its deposit the charge's entry.
 */
import { KantineError } from '@kantine/protocol';
import { DateTime } from 'luxon';
import type { Db } from '../db/db.ts';
import type { Store } from '../db/tx.ts';
import {
  type IntentPurpose,
  type IntentState,
  type PaymentIntents,
  REFUND_REASONS,
  type RefundReason,
  refundReason,
} from './intents.ts';

const ZONE = 'Europe/Copenhagen';

export interface ReconciliationRow {
  /** The payment intent's id, or the automatic top-up charge's. */
  intent_id: string;
  purpose: IntentPurpose | 'autotopup';
  provider: string;
  provider_payment_id: string | null;
  state: IntentState;
  amount_ore: number;
  created_at: string;
  paid_at: string | null;
  entry_id: string | null;
  entry_amount_ore: number | null;
  /**
   * Why a payment did not count: an automatic top-up charge's reason (`account_blocked`,
   * `payment_amount_mismatch`: charged, then refunded), or an intent's failure (`amount_mismatch`
   * / `paid_late`: the provider took money central does not credit, its refund under way;
   * `…_refunded`: given back).
   */
  reason?: string | null;
  /** What the provider said (the check only). */
  provider_state?: string;
  provider_amount_ore?: number;
}

export interface Difference {
  intent_id: string | null;
  entry_id: string | null;
  problem: string;
}

export interface Reconciliation {
  date: string;
  payments: ReconciliationRow[];
  /** Paid payments and the deposits they made, in øre. */
  totals: { paid_ore: number; deposited_ore: number };
  differences: Difference[];
  /** Whether the provider was asked (the check) or only central's records were read (the report). */
  provider_checked: boolean;
}

interface Row {
  id: string;
  purpose: IntentPurpose;
  provider: string;
  provider_payment_id: string | null;
  state: IntentState;
  amount_ore: number | string;
  created_at: Date;
  paid_at: Date | null;
  entry_id: string | null;
  entry_amount_ore: number | string | null;
  failure: string | null;
}

/** Reasons of payments the provider took that central gave back (or is giving back): not credited, as it should be. */
const REFUNDED = ['account_blocked', 'payment_amount_mismatch', ...REFUND_REASONS.map((r) => `${r}_refunded`)];
/** An intent's payment taken, not credited, its refund not yet confirmed: what finance is told. */
const REFUNDING: Record<RefundReason, string> = {
  amount_mismatch: 'the provider took another amount than asked; not credited, its refund is not yet confirmed',
  paid_late: 'paid after the payment expired; not credited, its refund is not yet confirmed',
  paid_blocked: 'paid after the canteen card was blocked; not credited, its refund is not yet confirmed',
};

/** Taken by the provider, not credited, its refund asked and not yet confirmed. */
function isRefunding(reason: string | null | undefined): boolean {
  return typeof reason === 'string' && refundReason(reason) === reason;
}

/** A date `YYYY-MM-DD` (default: yesterday in Denmark) and its bounds. */
function dayOf(date: string | undefined, now: Date): { date: string; from: Date; to: Date } {
  const d = date
    ? DateTime.fromISO(date, { zone: ZONE })
    : DateTime.fromJSDate(now, { zone: ZONE }).minus({ days: 1 }).startOf('day');
  if (!d.isValid || (date !== undefined && d.toISODate() !== date))
    throw new KantineError('invalid_request', `${date} is not a date`, ['/date YYYY-MM-DD']);
  const start = d.startOf('day');
  return { date: start.toISODate() as string, from: start.toJSDate(), to: start.plus({ days: 1 }).toJSDate() };
}

export class ReconciliationService {
  constructor(
    private readonly store: Store,
    private readonly payments: PaymentIntents,
  ) {}

  /** Central's own records of the day (no provider calls). */
  async report(date?: string): Promise<Reconciliation> {
    const day = dayOf(date, this.store.clock.now());
    const rows = await this.store.db.query<Row>(
      `SELECT i.id, i.purpose, i.provider, i.provider_payment_id, i.state, i.amount_ore, i.created_at, i.paid_at,
              e.id AS entry_id, e.amount_ore AS entry_amount_ore, i.failure
         FROM payment_intents i LEFT JOIN entries e ON e.id = i.id
        WHERE (i.created_at >= $1 AND i.created_at < $2) OR (i.paid_at >= $1 AND i.paid_at < $2)
           OR (e.created_at >= $1 AND e.created_at < $2)
        ORDER BY i.created_at, i.id`,
      [day.from, day.to],
    );
    const payments: ReconciliationRow[] = rows.map((r) => ({
      intent_id: r.id,
      purpose: r.purpose,
      provider: r.provider,
      provider_payment_id: r.provider_payment_id,
      state: r.state,
      amount_ore: Number(r.amount_ore),
      created_at: r.created_at.toISOString(),
      paid_at: r.paid_at?.toISOString() ?? null,
      entry_id: r.entry_id,
      entry_amount_ore: r.entry_amount_ore === null ? null : Number(r.entry_amount_ore),
      reason: r.failure,
    }));
    payments.push(...(await this.charges(day)));
    const differences: Difference[] = [];
    for (const p of payments) {
      // Taken by the provider, not credited, and its refund not yet answered: finance sees it until it is.
      const reason = refundReason(p.reason);
      if (reason && isRefunding(p.reason))
        differences.push({ intent_id: p.intent_id, entry_id: p.entry_id, problem: REFUNDING[reason] });
      if (p.purpose !== 'topup' && p.purpose !== 'autotopup') continue; // other purposes make no deposit
      if (p.state === 'paid' && p.entry_id === null)
        differences.push({ intent_id: p.intent_id, entry_id: null, problem: 'paid, but no deposit in the ledger' });
      if (p.entry_id !== null && p.state !== 'paid')
        differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `a deposit, but the payment is ${p.state}`,
        });
      if (p.entry_id !== null && p.entry_amount_ore !== p.amount_ore)
        differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `deposit ${p.entry_amount_ore} øre, payment ${p.amount_ore} øre`,
        });
    }
    const paid = payments.filter((p) => p.state === 'paid' && p.paid_at !== null && new Date(p.paid_at) >= day.from);
    return {
      date: day.date,
      payments,
      totals: {
        paid_ore: paid.reduce((s, p) => s + p.amount_ore, 0),
        deposited_ore: paid.reduce((s, p) => s + (p.entry_amount_ore ?? 0), 0),
      },
      differences,
      provider_checked: false,
    };
  }

  /** The report, with the provider asked about every payment of the day; kept for the metric. */
  async check(date?: string): Promise<Reconciliation> {
    const report = await this.report(date);
    for (const p of report.payments) {
      if (p.provider_payment_id === null) continue;
      let status: Awaited<ReturnType<PaymentIntents['adapter']['getPayment']>>;
      try {
        status = await this.payments.adapter.getPayment(p.provider_payment_id);
      } catch (err) {
        const code = err instanceof KantineError ? err.code : 'internal_error';
        report.differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `the provider could not be asked (${code})`,
        });
        continue;
      }
      p.provider_state = status.state;
      p.provider_amount_ore = status.amount_ore;
      // Paid and given back (a card blocked meanwhile, another amount than asked, paid too late):
      // no deposit, as it should be — once the provider says the refund is made.
      const refunded =
        typeof p.reason === 'string' &&
        REFUNDED.includes(p.reason) &&
        (p.purpose === 'autotopup' || (status.refunded_ore ?? 0) >= status.amount_ore);
      if (refunded) p.provider_state = 'refunded';
      // Its refund not yet confirmed: the report names it once already ("not credited, its refund is
      // not yet confirmed"); that the provider holds the money is the same difference, not another.
      const refunding = isRefunding(p.reason);
      if (status.state === 'paid' && p.state !== 'paid' && !refunded && !refunding)
        report.differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `the provider took the money, central has it ${p.state}`,
        });
      if (status.state !== 'paid' && p.state === 'paid')
        report.differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `central has it paid, the provider says ${status.state}`,
        });
      if (status.state === 'paid' && status.amount_ore !== p.amount_ore && !refunded && !refunding)
        report.differences.push({
          intent_id: p.intent_id,
          entry_id: p.entry_id,
          problem: `the provider took ${status.amount_ore} øre, central asked ${p.amount_ore} øre`,
        });
    }
    report.provider_checked = true;
    await this.store.tx(async (t) => {
      await t.sql.query(
        `INSERT INTO payment_reconciliations (day, started_at, checked_at, payments, differences, report)
         VALUES ($1, $2, $2, $3, $4, $5)
         ON CONFLICT (day) DO UPDATE SET checked_at = $2, payments = $3, differences = $4, report = $5`,
        [report.date, t.now, report.payments.length, report.differences.length, JSON.stringify(report.differences)],
      );
    });
    return report;
  }

  /** The automatic top-up charges made or settled on the day, as report rows. */
  private async charges(day: { from: Date; to: Date }): Promise<ReconciliationRow[]> {
    const rows = await this.store.db.query<{
      id: string;
      state: 'pending' | 'deposited' | 'failed';
      reason: string | null;
      payment_id: string | null;
      amount_ore: number | string;
      created_at: Date;
      settled_at: Date | null;
      entry_id: string | null;
      entry_amount_ore: number | string | null;
    }>(
      `SELECT c.id, c.state, c.reason, c.payment_id, c.amount_ore, c.created_at, c.settled_at,
              e.id AS entry_id, e.amount_ore AS entry_amount_ore
         FROM autotopup_charges c LEFT JOIN entries e ON e.id = c.deposit_entry_id
        WHERE (c.created_at >= $1 AND c.created_at < $2) OR (c.settled_at >= $1 AND c.settled_at < $2)
        ORDER BY c.created_at, c.id`,
      [day.from, day.to],
    );
    const states = { pending: 'pending', deposited: 'paid', failed: 'failed' } as const;
    return rows.map((r) => ({
      intent_id: r.id,
      purpose: 'autotopup',
      provider: this.payments.adapter.provider,
      provider_payment_id: r.payment_id,
      state: states[r.state],
      amount_ore: Number(r.amount_ore),
      created_at: r.created_at.toISOString(),
      paid_at: r.state === 'deposited' ? (r.settled_at?.toISOString() ?? null) : null,
      entry_id: r.entry_id,
      entry_amount_ore: r.entry_amount_ore === null ? null : Number(r.entry_amount_ore),
      reason: r.reason,
    }));
  }

  /** Yesterday's check, once across all workers (the first to claim the day runs it); undefined if done. */
  async daily(): Promise<Reconciliation | undefined> {
    const day = dayOf(undefined, this.store.clock.now());
    const [claimed] = await this.store.db.query(
      `INSERT INTO payment_reconciliations (day, started_at) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING RETURNING day`,
      [day.date, this.store.clock.now()],
    );
    if (!claimed) return undefined;
    return this.check(day.date);
  }
}

/** The latest check's differences (0 before any): what the metric says. */
export async function latestDifferences(db: Db): Promise<number> {
  const [row] = await db.query<{ differences: number | null }>(
    'SELECT differences FROM payment_reconciliations WHERE checked_at IS NOT NULL ORDER BY day DESC LIMIT 1',
  );
  return Number(row?.differences ?? 0);
}

/** Payment intents by state (the metric `kantine_central_payment_intents`). */
export async function intentsByState(db: Db): Promise<{ state: string; n: number }[]> {
  const rows = await db.query<{ state: string; n: number | string }>(
    'SELECT state, COUNT(*)::bigint AS n FROM payment_intents GROUP BY state',
  );
  return rows.map((r) => ({ state: r.state, n: Number(r.n) }));
}

const CSV_COLUMNS = [
  'date',
  'intent_id',
  'purpose',
  'provider',
  'provider_payment_id',
  'state',
  'amount_kr',
  'created_at',
  'paid_at',
  'entry_id',
  'entry_amount_kr',
  'provider_state',
  'provider_amount_kr',
  'difference',
  'reason',
] as const;

const kr = (ore: number | null | undefined) => (ore === null || ore === undefined ? '' : (ore / 100).toFixed(2));

/** A CSV cell: quoted when needed, and never a formula (a cell starting with = + - @ gets a quote mark). */
function cell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n;]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The report as CSV for finance (UTF-8, comma-separated, amounts in kroner with a point). */
export function reconciliationCsv(r: Reconciliation): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const p of r.payments) {
    const problems = r.differences.filter((d) => d.intent_id === p.intent_id).map((d) => d.problem);
    lines.push(
      [
        r.date,
        p.intent_id,
        p.purpose,
        p.provider,
        p.provider_payment_id ?? '',
        p.state,
        kr(p.amount_ore),
        p.created_at,
        p.paid_at ?? '',
        p.entry_id ?? '',
        kr(p.entry_amount_ore),
        p.provider_state ?? '',
        kr(p.provider_amount_ore),
        problems.join('; '),
        p.reason ?? '',
      ]
        .map((v) => cell(String(v)))
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
