import { type AccountPatch, KantineError } from '@kantine/protocol';
import type { Tx } from '../db/tx.ts';
import { outstanding } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { appendDown } from '../link/down-log.ts';

/**
 * The parts of a partial change (`AccountService.patch`), each touching only its own group. The
 * account row is locked by the caller. A group's columns are named here, never taken from the
 * request: the body's schema decides which groups exist, this decides where each goes.
 */

/** The account row's own groups: name, places, allergies, photo, automatic top-up, categories. */
export async function patchColumns(t: Tx, id: string, p: AccountPatch): Promise<void> {
  const sets: string[] = [];
  const args: unknown[] = [id];
  const set = (column: string, value: unknown) => {
    args.push(value);
    sets.push(`${column} = $${args.length}`);
  };
  if (p.name) {
    set('first_name', p.name.first_name);
    set('last_name', p.name.last_name ?? '');
  }
  if (p.place_kinds) set('place_kinds', JSON.stringify(p.place_kinds));
  if (p.denied_categories) set('denied_categories', JSON.stringify(unique(p.denied_categories)));
  if (p.allergies) set('allergies', JSON.stringify(unique(p.allergies)));
  if (p.photo !== undefined) set('photo', p.photo);
  if (p.auto_topup_ore !== undefined) set('auto_topup_ore', p.auto_topup_ore);
  if (sets.length > 0) await t.sql.query(`UPDATE accounts SET ${sets.join(', ')} WHERE id = $1`, args);
}

/** The limits group: the whole set is replaced; one limit per kind of place and period. */
export async function patchLimits(t: Tx, id: string, limits: NonNullable<AccountPatch['limits']>): Promise<void> {
  checkLimits(limits);
  await t.sql.query('DELETE FROM spend_limits WHERE account_id = $1', [id]);
  for (const l of limits) {
    await t.sql.query('INSERT INTO spend_limits (account_id, place_kind, period, limit_ore) VALUES ($1, $2, $3, $4)', [
      id,
      l.place_kind,
      l.period,
      l.limit_ore,
    ]);
  }
}

/**
 * The sites group: the sites where the card works. A site the account leaves keeps what it knows
 * but gets no new shares, and what it holds is recalled (as `put` does).
 */
export async function patchSites(
  t: Tx,
  escrow: EscrowService,
  id: string,
  sites: readonly string[],
): Promise<{ before: string[]; after: string[] }> {
  const known = await t.sql.query<{ id: string }>('SELECT id FROM sites WHERE id = ANY($1)', [sites]);
  if (known.length !== new Set(sites).size) throw new KantineError('not_found', `unknown site in ${sites.join(', ')}`);
  const before = (
    await t.sql.query<{ site_id: string }>('SELECT site_id FROM account_sites WHERE account_id = $1', [id])
  ).map((r) => r.site_id);
  for (const s of sites) {
    await t.sql.query('INSERT INTO account_sites (account_id, site_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      id,
      s,
    ]);
  }
  for (const gone of before.filter((s) => !sites.includes(s))) {
    await t.sql.query('DELETE FROM account_sites WHERE account_id = $1 AND site_id = $2', [id, gone]);
    for (const s of await escrow.sharesOfSite(t, id, gone)) {
      if (outstanding(s) > 0) await appendDown(t, gone, { kind: 'recall', account_id: id, budget: s.budget });
    }
  }
  return { before, after: [...sites] };
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** One limit per kind of place and period: a second one is refused (it would be a database error). */
export function checkLimits(limits: readonly { place_kind: string; period: string }[]): void {
  const seen = new Set<string>();
  for (const [i, l] of limits.entries()) {
    const key = `${l.place_kind}:${l.period}`;
    if (seen.has(key))
      throw new KantineError('invalid_request', `a second limit for ${l.place_kind} per ${l.period}`, [
        `/limits/${i} a second limit for ${l.place_kind} per ${l.period}`,
      ]);
    seen.add(key);
  }
}
