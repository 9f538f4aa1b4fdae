import type { Mail } from '@kantine/central/mail';
import pino, { type Logger } from 'pino';

const at = new Date('2026-12-07T09:30:00Z');

/** One of each type, with amounts that show the thousands separator and the øre. */
export const EACH: Record<Mail['type'], Mail> = {
  topup_receipt: {
    type: 'topup_receipt',
    child_name: 'Freja',
    amount_ore: 123450,
    balance_ore: 15075,
    paid_at: at,
    payment_ref: 'pi_7f3a',
  },
  auto_topup_failed: {
    type: 'auto_topup_failed',
    child_name: 'Freja',
    amount_ore: 20000,
    reason: 'insufficient_funds',
    suspended: false,
  },
  card_expiring: {
    type: 'card_expiring',
    child_name: 'Freja',
    card_last4: '4242',
    expires_month: 1,
    expires_year: 2027,
  },
  low_balance: { type: 'low_balance', child_name: 'Freja', balance_ore: 4250, threshold_ore: 5000 },
  payout_receipt: {
    type: 'payout_receipt',
    child_name: 'Freja',
    amount_ore: 123450,
    to_account: '1234 ······6789',
    payout_ref: 'po_19',
    requested_at: at,
  },
  relation_invite: {
    type: 'relation_invite',
    child_name: 'Freja',
    inviter_name: 'Anne Hansen',
    link: 'https://kantine.kommune.example/invites/abc_DEF-123',
    expires_at: at,
  },
};

/** A pino logger whose lines (JSON) land in `lines`, at debug level (everything central would log). */
export function capturedLog(lines: string[]): Logger {
  return pino({ level: 'debug' }, { write: (s: string) => lines.push(s) });
}

/** Polls `check` until it is true (bounded). */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeout_ms = 45_000): Promise<void> {
  const end = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
