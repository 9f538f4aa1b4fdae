import { KantineError, type LinkAccount, type PlaceKind } from '@kantine/protocol';
import type { Tx } from '../db/tx.ts';

/**
 * An account's rows as the other concepts read them inside their transactions (money, escrow,
 * cards and the link all lock the account before they touch what hangs from it).
 */
export interface AccountRow {
  id: string;
  first_name: string;
  last_name: string;
  place_kinds: PlaceKind[];
  denied_categories: string[];
  allergies: string[];
  photo: string | null;
  auto_topup_ore: number | null;
  balance_ore: number;
}

export async function lockAccount(t: Tx, id: string): Promise<AccountRow> {
  const [row] = await t.sql.query<AccountRow>(
    `SELECT id, first_name, last_name, place_kinds, denied_categories, allergies, photo, auto_topup_ore, balance_ore
       FROM accounts WHERE id = $1 FOR UPDATE`,
    [id],
  );
  if (!row) throw new KantineError('not_found', `no account ${id}`);
  return row;
}

export async function limitsOf(t: Tx, id: string): Promise<LinkAccount['limits']> {
  return t.sql.query(
    'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1 ORDER BY place_kind, period',
    [id],
  );
}

/** The account as sites see it: no CPR number, no balance (that moves by entries). */
export async function linkAccount(t: Tx, id: string): Promise<LinkAccount> {
  const a = await lockAccount(t, id);
  return {
    id: a.id,
    first_name: a.first_name,
    last_name: a.last_name,
    place_kinds: a.place_kinds,
    denied_categories: a.denied_categories,
    allergies: a.allergies,
    photo: a.photo,
    auto_topup_ore: a.auto_topup_ore,
    limits: await limitsOf(t, id),
  };
}

/** The sites where an account's card works. */
export async function sitesOf(t: Tx, accountId: string): Promise<{ id: string; place_kinds: PlaceKind[] }[]> {
  return t.sql.query(
    `SELECT s.id, s.place_kinds FROM account_sites x JOIN sites s ON s.id = x.site_id
       WHERE x.account_id = $1 ORDER BY s.id`,
    [accountId],
  );
}

/**
 * The account's canteen card is blocked: a blocked card and no active one (a replacement card not
 * yet active leaves it blocked). No deposit reaches such an account (seeds).
 */
export async function canteenCardBlocked(t: Tx, accountId: string): Promise<boolean> {
  const [blocked] = await t.sql.query(
    `SELECT 1 FROM cards WHERE account_id = $1 AND state = 'blocked'
       AND NOT EXISTS (SELECT 1 FROM cards WHERE account_id = $1 AND state = 'active')`,
    [accountId],
  );
  return blocked !== undefined;
}
