import { KantineError } from '@kantine/protocol';

/** A Danish bank account as the guardian gives it: reg. no. and account number. */
export interface DanishAccount {
  /** 4 digits (the bank and branch). */
  reg_nr: string;
  /** Zero-padded to 10 digits (what the BBAN carries). */
  account_nr: string;
}

/**
 * Checks a Danish account number's **format** only: a 4-digit reg. no. and an account number of
 * 1–10 digits (zero-padded to 10), not all zeros. No modulus-11 check: the rules differ per bank
 * and per reg. no. range, and the table of which applies where is a register the banks sell
 * (Finans Danmark); a wrong but well-formed number is refused by the bank and comes back to
 * finance (docs/operations/payouts.md). Spaces and a dash between groups are forgiven.
 */
export function danishAccount(reg: unknown, account: unknown): DanishAccount {
  const clean = (v: unknown) => (typeof v === 'string' && v.length <= 20 ? v.replace(/[ -]/g, '') : undefined);
  const r = clean(reg);
  const a = clean(account);
  const details: string[] = [];
  if (r === undefined || !/^[0-9]{4}$/.test(r) || r === '0000') details.push('/to/reg_nr must be 4 digits');
  if (a === undefined || !/^[0-9]{1,10}$/.test(a) || /^0+$/.test(a))
    details.push('/to/account_nr must be 1 to 10 digits, not all zeros');
  if (details.length > 0 || r === undefined || a === undefined)
    throw new KantineError('payout_account_invalid', undefined, details);
  return { reg_nr: r, account_nr: a.padStart(10, '0') };
}

/** The Danish BBAN: reg. no. + account number zero-padded to 10 (14 digits). */
export function bban(a: DanishAccount): string {
  return `${a.reg_nr}${a.account_nr.padStart(10, '0')}`;
}

/** Øre as the file's decimal amount: `12345` → `123.45` (no float arithmetic). */
export function decimalAmount(ore: number | bigint): string {
  const n = BigInt(ore);
  if (n < 0n) throw new Error('a payout amount is never negative');
  const kr = n / 100n;
  const rest = n % 100n;
  return `${kr}.${rest.toString().padStart(2, '0')}`;
}
