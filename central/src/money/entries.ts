import {
  BALANCE_BUDGET,
  type CentralEntry,
  KantineError,
  type LinkCard,
  type PlaceKind,
  parseBudget,
  type SiteEntry,
} from '@kantine/protocol';
import { sitesOf } from '../accounts/rows.ts';
import type { Tx } from '../db/tx.ts';
import { outstanding } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { appendDown } from '../link/down-log.ts';

/** One booking on an account, made at central or at a site. */
export interface EntryRow {
  seq: number;
  id: string;
  account_id: string;
  kind: CentralEntry['kind'];
  amount_ore: number;
  balance_after_ore: number;
  origin: string;
  place_kind: PlaceKind | null;
  voids_entry_id: string | null;
  reason: string | null;
  lines: CentralEntry['lines'] | null;
  tap_id: string | null;
  budgets: string[] | null;
  created_at: Date | string;
}

/** An entry as sites see it. */
export function centralEntry(e: EntryRow): CentralEntry {
  return {
    id: e.id,
    account_id: e.account_id,
    kind: e.kind,
    amount_ore: e.amount_ore,
    origin: e.origin,
    created_at: new Date(e.created_at).toISOString(),
    ...(e.place_kind ? { place_kind: e.place_kind } : {}),
    ...(e.voids_entry_id ? { voids_entry_id: e.voids_entry_id } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.lines ? { lines: e.lines } : {}),
  };
}

export async function entryExists(t: Tx, id: string): Promise<boolean> {
  return (await t.sql.query('SELECT 1 FROM entries WHERE id = $1', [id])).length > 0;
}

/** Inserts an entry and moves the balance (the account row is locked by the caller). */
export async function book(
  t: Tx,
  e: {
    id: string;
    account_id: string;
    kind: CentralEntry['kind'];
    amount_ore: number;
    origin: string;
    created_at: string;
    place_kind?: PlaceKind;
    voids_entry_id?: string;
    reason?: string;
    lines?: unknown;
    tap_id?: string;
    budgets?: string[];
  },
): Promise<EntryRow> {
  const [acc] = await t.sql.query<{ balance_ore: number }>(
    'UPDATE accounts SET balance_ore = balance_ore + $2 WHERE id = $1 RETURNING balance_ore',
    [e.account_id, e.amount_ore],
  );
  const [row] = await t.sql.query<EntryRow>(
    `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, origin, place_kind, voids_entry_id, reason,
                            lines, tap_id, budgets, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [
      e.id,
      e.account_id,
      e.kind,
      e.amount_ore,
      acc?.balance_ore,
      e.origin,
      e.place_kind ?? null,
      e.voids_entry_id ?? null,
      e.reason ?? null,
      e.lines === undefined ? null : JSON.stringify(e.lines),
      e.tap_id ?? null,
      e.budgets === undefined ? null : JSON.stringify(e.budgets),
      e.created_at,
    ],
  );
  return row as EntryRow;
}

/**
 * A sale or a void a site reports, checked against central's own record before it is booked
 * (design principle 12: a site can never create money). Refused with a coded error, booking
 * nothing, when:
 *
 * - the site does not serve the account (nor held a share of it), or the entry's kind of place is
 *   not the site's;
 * - a purchase does not take money, or does not draw on the balance's share;
 * - a void is not the exact opposite of a purchase this site made on this account and has not
 *   voided before (same amount, place and budgets);
 * - a purchase draws on more of a share than the site holds.
 *
 * The account row is locked by the caller. A repeated entry id changes nothing.
 *
 * A site's message is booked as one set by `bookSiteChanges` (site-batch.ts), which makes these
 * same checks in this order; this one-at-a-time way books what that one leaves to it. Change
 * both together: tests/central-site-batch.test.ts holds them to the same books.
 */
export async function applySiteEntry(t: Tx, escrow: EscrowService, site: string, e: SiteEntry): Promise<void> {
  // A site serves the account, or did until lately: a site taken off an account still reports
  // the sales it made from the shares it held then.
  const [served] = await t.sql.query<{ place_kinds: PlaceKind[] }>(
    `SELECT s.place_kinds FROM sites s WHERE s.id = $1
       AND (EXISTS (SELECT 1 FROM account_sites x WHERE x.account_id = $2 AND x.site_id = s.id)
            OR EXISTS (SELECT 1 FROM shares h WHERE h.account_id = $2 AND h.site_id = s.id))`,
    [site, e.account_id],
  );
  if (!served || !served.place_kinds.includes(e.place_kind))
    throw new KantineError('link_account_not_served', `site ${site} does not serve ${e.account_id} (${e.place_kind})`);
  const [seen] = await t.sql.query<{ account_id: string; origin: string }>(
    'SELECT account_id, origin FROM entries WHERE id = $1',
    [e.id],
  );
  if (seen) {
    if (seen.account_id !== e.account_id || seen.origin !== site)
      throw new KantineError('link_entry_invalid', `entry id ${e.id} is taken`);
    return; // applied before
  }
  if (new Set(e.budgets).size !== e.budgets.length)
    throw new KantineError('link_entry_invalid', `entry ${e.id} names a budget twice`);
  if (e.kind === 'purchase') {
    if (e.amount_ore >= 0 || e.voids_entry_id !== undefined)
      throw new KantineError('link_entry_invalid', `purchase ${e.id} must take money and void nothing`);
    if (!e.budgets.includes(BALANCE_BUDGET))
      throw new KantineError('link_entry_invalid', `purchase ${e.id} does not draw on the balance`);
    for (const budget of e.budgets) {
      const p = parseBudget(budget);
      if (p && p.kind !== e.place_kind)
        throw new KantineError('link_entry_invalid', `purchase ${e.id} draws on another place's limit ${budget}`);
    }
  } else {
    await checkVoid(t, site, e);
  }
  for (const budget of e.budgets) {
    const share = (await escrow.sharesOfSite(t, e.account_id, site)).find((s) => s.budget === budget);
    if (!share || (e.amount_ore < 0 && outstanding(share) < -e.amount_ore))
      throw new KantineError(
        'link_share_exceeded',
        `site ${site} spent ${-e.amount_ore} øre of ${budget} beyond its share`,
      );
  }
  const row = await book(t, {
    id: e.id,
    account_id: e.account_id,
    kind: e.kind,
    amount_ore: e.amount_ore,
    origin: site,
    created_at: e.created_at,
    place_kind: e.place_kind,
    budgets: e.budgets,
    ...(e.voids_entry_id ? { voids_entry_id: e.voids_entry_id } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.lines ? { lines: e.lines } : {}),
    ...(e.tap_id ? { tap_id: e.tap_id } : {}),
  });
  // A purchase uses up its share of every budget it drew on; a void gives it back (never more
  // than was used: the shares' CHECK).
  for (const budget of e.budgets) await escrow.moveShare(t, e.account_id, budget, site, 'consumed_ore', -e.amount_ore);
  const others = (await sitesOf(t, e.account_id)).filter((s) => s.id !== site);
  for (const s of others) await appendDown(t, s.id, { kind: 'entry', entry: centralEntry(row) });
  if (e.card && e.kind === 'purchase') await raiseSunCounter(t, e.account_id, e.card, others);
}

/** A void must undo exactly one purchase this site made on this account, once. */
async function checkVoid(t: Tx, site: string, e: SiteEntry): Promise<void> {
  if (!e.voids_entry_id || e.amount_ore <= 0)
    throw new KantineError('link_void_mismatch', `void ${e.id} names no sale`);
  const [sale] = await t.sql.query<{
    account_id: string;
    kind: string;
    amount_ore: number;
    origin: string;
    place_kind: string | null;
    budgets: string[] | null;
    voided: boolean;
  }>(
    `SELECT account_id, kind, amount_ore, origin, place_kind, budgets,
            EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id) AS voided
       FROM entries e WHERE id = $1`,
    [e.voids_entry_id],
  );
  const sameBudgets =
    sale?.budgets !== null &&
    sale?.budgets !== undefined &&
    sale.budgets.length === e.budgets.length &&
    sale.budgets.every((b) => e.budgets.includes(b));
  if (
    !sale ||
    sale.kind !== 'purchase' ||
    sale.account_id !== e.account_id ||
    sale.origin !== site ||
    sale.amount_ore !== -e.amount_ore ||
    sale.place_kind !== e.place_kind ||
    !sameBudgets ||
    sale.voided
  )
    throw new KantineError('link_void_mismatch', `void ${e.id} does not undo sale ${e.voids_entry_id} of ${site}`);
}

/**
 * A site accepted a SUN message of the account's card: central keeps the highest counter and
 * sends it to the account's other sites, which then refuse that message and every older one.
 */
async function raiseSunCounter(
  t: Tx,
  accountId: string,
  card: NonNullable<SiteEntry['card']>,
  others: readonly { id: string }[],
): Promise<void> {
  const [row] = await t.sql.query<LinkCard>(
    `UPDATE cards SET sun_counter = $2 WHERE uid = $1 AND account_id = $3 AND kind = 'ntag424' AND sun_counter < $2
     RETURNING uid, account_id, state, kind, batch_id, sun_counter`,
    [card.uid, card.sun_counter, accountId],
  );
  if (!row) return; // not this account's kantine card, or an older counter: nothing to tell
  for (const s of others) await appendDown(t, s.id, { kind: 'card', card: row });
}

/** A site gives back (part of) a share: never more than it holds (the shares' CHECK). */
export async function applySiteReturn(
  t: Tx,
  escrow: EscrowService,
  site: string,
  accountId: string,
  budget: string,
  amount_ore: number,
): Promise<void> {
  const share = (await escrow.sharesOfSite(t, accountId, site)).find((s) => s.budget === budget);
  if (!share || outstanding(share) < amount_ore)
    throw new KantineError(
      'link_share_exceeded',
      `site ${site} gave back ${amount_ore} øre of ${budget} it does not hold`,
    );
  await escrow.moveShare(t, accountId, budget, site, 'returned_ore', amount_ore);
}
