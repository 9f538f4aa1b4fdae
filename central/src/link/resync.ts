import { BALANCE_BUDGET, type LinkCard, type RestoreNote, type UpChange } from '@kantine/protocol';
import { type AccountRow, limitsOf, linkAccount, lockAccount } from '../accounts/rows.ts';
import { batchOf, shareBatch } from '../cards/batches.ts';
import type { Tx } from '../db/tx.ts';
import { freeOf, limitOf } from '../escrow/arithmetic.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { centralEntry, type EntryRow } from '../money/entries.ts';
import { appendDown, newMark } from './down-log.ts';

/**
 * A restore that loses nothing (docs/replication.md §Restore). Central's database can come back
 * from a backup older than what the sites know: the sites applied changes of central's that are
 * gone, and central acknowledged changes of theirs it no longer holds. Every message a site sends
 * says where it stands (`Standing`); central compares that with its own record here, and when the
 * site is ahead — or followed a log central no longer has — it resyncs the site: its log for the
 * site starts again with a `reset`, followed by the site's accounts whole.
 */
export interface Standing {
  /** The last of central's changes the site applied, and that change's mark. */
  down_cursor?: number | undefined;
  down_mark?: string | undefined;
  /** How far central acknowledged the site's own log, as the site remembers it. */
  up_acked?: number | undefined;
}

export interface SiteLinkRow {
  up_cursor: number;
  down_seq: number;
  down_acked: number;
  down_acked_mark: string | null;
  recover_mark: string | null;
}

/** The site's link row, locked (every change of a site's cursors runs behind this lock). */
export async function lockSiteLink(t: Tx, site: string): Promise<SiteLinkRow | undefined> {
  const [row] = await t.sql.query<SiteLinkRow>(
    'SELECT up_cursor, down_seq, down_acked, down_acked_mark, recover_mark FROM sites WHERE id = $1 FOR UPDATE',
    [site],
  );
  return row;
}

/**
 * Why the site's standing shows central lost part of the link's history, or undefined when it
 * agrees with central's record. A standing older than central's acknowledgement (a late copy of
 * a message) says nothing and agrees.
 */
export async function divergence(
  t: Tx,
  site: string,
  row: SiteLinkRow,
  standing: Standing,
): Promise<string | undefined> {
  return divergenceOf(row, standing, async (cursor) => {
    const [change] = await t.sql.query<{ mark: string | null }>(
      "SELECT change->>'mark' AS mark FROM down_log WHERE site_id = $1 AND seq = $2",
      [site, cursor],
    );
    return change;
  });
}

/**
 * `divergence`, with the down log's change at the site's cursor read by `changeAt` (undefined:
 * not in the log) — only when the answer depends on it, so a caller may read many at once.
 */
export async function divergenceOf(
  row: SiteLinkRow,
  standing: Standing,
  changeAt: (cursor: number) => Promise<{ mark: string | null } | undefined> | { mark: string | null } | undefined,
): Promise<string | undefined> {
  if (standing.up_acked !== undefined && standing.up_acked > row.up_cursor)
    return `central acknowledged the site's log up to ${standing.up_acked} but holds it up to ${row.up_cursor}`;
  const cursor = standing.down_cursor;
  if (cursor === undefined) return undefined;
  if (cursor > row.down_seq) return `the site applied central's log up to ${cursor}; central's ends at ${row.down_seq}`;
  if (standing.down_mark === undefined) return undefined; // a site from before marks
  if (cursor === row.down_acked) {
    if (row.down_acked_mark !== null && row.down_acked_mark !== standing.down_mark)
      return `change ${cursor} the site applied is not central's`;
    return undefined;
  }
  if (cursor < row.down_acked) return undefined;
  const change = await changeAt(cursor);
  if (!change) return `change ${cursor} the site applied is gone from central's log`;
  if (change.mark !== null && change.mark !== standing.down_mark)
    return `change ${cursor} the site applied is not central's`;
  return undefined;
}

/** Whether `divergenceOf` needs the down log's change at the site's cursor. */
export function needsChangeAt(row: SiteLinkRow, standing: Standing): boolean {
  const cursor = standing.down_cursor;
  return (
    cursor !== undefined &&
    standing.down_mark !== undefined &&
    cursor <= row.down_seq &&
    cursor > row.down_acked &&
    !(standing.up_acked !== undefined && standing.up_acked > row.up_cursor)
  );
}

/**
 * Starts the site's log again (the site row locked by the caller): a `reset` after the site's
 * cursor and central's own end, then every account the site serves whole — the account, its cards
 * and their batches, every entry made elsewhere — and the stock of its office, then `resync_done`.
 * Every share the site holds is set to nothing at both ends (the `reset` does it at the site); the
 * account's money is shared out again when the site has sent what it sold before the reset
 * (`resynced`), so central books those sales first. Returns the reset's mark.
 */
export async function resync(
  t: Tx,
  site: string,
  row: SiteLinkRow,
  standing: Standing,
  reason: string,
): Promise<string> {
  const mark = newMark();
  const start = Math.max(row.down_seq, standing.down_cursor ?? 0);
  const upCursor = Math.max(row.up_cursor, standing.up_acked ?? 0);
  const [last] = await t.sql.query<{ id: string }>(
    'SELECT id FROM entries WHERE origin = $1 ORDER BY seq DESC LIMIT 1',
    [site],
  );
  await t.sql.query('DELETE FROM down_log WHERE site_id = $1', [site]);
  await t.sql.query(
    `UPDATE sites SET down_seq = $2, down_acked = $2, down_acked_mark = $3, up_cursor = $4, recover_mark = $5
     WHERE id = $1`,
    [site, start, standing.down_mark ?? null, upCursor, mark],
  );
  await t.sql.query('UPDATE shares SET granted_ore = consumed_ore + returned_ore WHERE site_id = $1', [site]);
  await t.sql.query(
    `INSERT INTO link_resyncs (site_id, mark, at, reason, up_cursor_before, site_up_acked, down_seq_before,
                               site_down_cursor, reset_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      site,
      mark,
      t.now,
      reason,
      row.up_cursor,
      standing.up_acked ?? null,
      row.down_seq,
      standing.down_cursor ?? null,
      start + 1,
    ],
  );
  await appendDown(t, site, { kind: 'reset', mark, up_cursor: upCursor, last_entry_id: last?.id ?? null });
  for (const b of await t.sql.query<{ id: string; sdm_master: Uint8Array }>(
    `SELECT b.id, b.sdm_master FROM batches b JOIN site_batches s ON s.batch_id = b.id
     WHERE s.site_id = $1 ORDER BY b.id`,
    [site],
  ))
    await appendDown(t, site, { kind: 'batch', batch: batchOf(b) });
  const accounts = await t.sql.query<{ account_id: string }>(
    'SELECT account_id FROM account_sites WHERE site_id = $1 ORDER BY account_id',
    [site],
  );
  for (const { account_id } of accounts) {
    await appendDown(t, site, { kind: 'account', account: await linkAccount(t, account_id) });
    for (const c of await t.sql.query<LinkCard>(
      'SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards WHERE account_id = $1 ORDER BY uid',
      [account_id],
    )) {
      if (c.batch_id) await shareBatch(t, site, c.batch_id);
      await appendDown(t, site, { kind: 'card', card: c });
    }
    for (const e of await t.sql.query<EntryRow>(
      'SELECT * FROM entries WHERE account_id = $1 AND origin <> $2 ORDER BY seq',
      [account_id, site],
    ))
      await appendDown(t, site, { kind: 'entry', entry: centralEntry(e) });
  }
  for (const c of await t.sql.query<LinkCard>(
    `SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards
     WHERE stock_site = $1 AND account_id IS NULL ORDER BY uid`,
    [site],
  ))
    await appendDown(t, site, { kind: 'card', card: c });
  await appendDown(t, site, { kind: 'resync_done', reset_mark: mark });
  return mark;
}

/**
 * Central no longer knows the shares the site sold from before its reset (they were granted
 * after central's backup, or the reset took them): such a sale, void or return is booked so that
 * it leaves the share where the reset put it. A sale is booked only if its money (and its limits'
 * headroom) is free at central — what the site could have had for the asking anyway — and what it
 * took is kept in `restore_regrants` for the report. Every other check of a site's report stands
 * (`applySiteEntry`, `applySiteReturn`): the account served, the void matching its sale, the id
 * unused. Returns what to do after the check: give a void's amount back to `returned`.
 */
export async function regrantForRecovery(
  t: Tx,
  escrow: EscrowService,
  site: string,
  mark: string,
  c: Extract<UpChange, { kind: 'entry' | 'return' }>,
): Promise<(() => Promise<void>) | undefined> {
  const regrant = async (accountId: string, budget: string, amount: number, entryId: string) => {
    await t.sql.query(
      `INSERT INTO shares (account_id, budget, site_id, granted_ore) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, budget, site_id) DO UPDATE SET granted_ore = shares.granted_ore + excluded.granted_ore`,
      [accountId, budget, site, amount],
    );
    await t.sql.query(
      `INSERT INTO restore_regrants (site_id, mark, entry_id, account_id, budget, amount_ore, at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [site, mark, entryId, accountId, budget, amount, t.now],
    );
  };
  const accountId = c.kind === 'entry' ? c.entry.account_id : c.account_id;
  // Only for an account the site serves (or held a share of): a share made here must not open
  // an account to a site that had none (`applySiteEntry` lets a site with a share report on it).
  const served = await t.sql.query(
    `SELECT 1 FROM account_sites WHERE account_id = $1 AND site_id = $2
     UNION ALL SELECT 1 FROM shares WHERE account_id = $1 AND site_id = $2 LIMIT 1`,
    [accountId, site],
  );
  if (served.length === 0) return undefined; // refused by its own check
  if (c.kind === 'return') {
    // Gives back what central may not know it granted: the grant and the return cancel out.
    await t.sql.query(
      `INSERT INTO shares (account_id, budget, site_id, granted_ore) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, budget, site_id) DO UPDATE SET granted_ore = shares.granted_ore + excluded.granted_ore`,
      [c.account_id, c.budget, site, c.amount_ore],
    );
    return undefined;
  }
  const e = c.entry;
  if ((await t.sql.query('SELECT 1 FROM entries WHERE id = $1', [e.id])).length > 0) return undefined; // booked before
  if (e.kind === 'void') {
    if (e.amount_ore <= 0) return undefined; // refused by the void's own check
    return async () => {
      for (const budget of new Set(e.budgets))
        await t.sql.query(
          'UPDATE shares SET returned_ore = returned_ore + $4 WHERE account_id = $1 AND budget = $2 AND site_id = $3',
          [e.account_id, budget, site, e.amount_ore],
        );
    };
  }
  const amount = -e.amount_ore;
  if (amount <= 0 || new Set(e.budgets).size !== e.budgets.length) return undefined; // refused by its own check
  const account: AccountRow | undefined = await lockAccount(t, e.account_id).catch(() => undefined);
  if (!account) return undefined; // refused: central does not know the account
  const limits = await limitsOf(t, account.id);
  for (const budget of e.budgets) {
    const capacity = budget === BALANCE_BUDGET ? account.balance_ore : limitOf(budget, limits);
    if (capacity === undefined) continue; // no such limit at central: nothing to exceed
    if (freeOf(budget, capacity, await escrow.shares(t, account.id, budget)) < amount) return undefined; // not free: refused
  }
  for (const budget of e.budgets) await regrant(account.id, budget, amount, e.id);
  return undefined;
}

/**
 * The site sent everything it sold before the reset `mark`: the resync is done, and the accounts
 * of the site are shared out again (they were held back meanwhile, see `recovering`).
 */
export async function endRecovery(t: Tx, escrow: EscrowService, site: string, mark: string): Promise<boolean> {
  const done = await t.sql.query(
    'UPDATE sites SET recover_mark = NULL WHERE id = $1 AND recover_mark = $2 RETURNING 1',
    [site, mark],
  );
  if (done.length === 0) return false; // a late copy, or a resync that another has replaced
  await t.sql.query('UPDATE link_resyncs SET done_at = $3 WHERE site_id = $1 AND mark = $2', [site, mark, t.now]);
  for (const { account_id } of await t.sql.query<{ account_id: string }>(
    'SELECT account_id FROM account_sites WHERE site_id = $1 ORDER BY account_id',
    [site],
  ))
    await escrow.rebalance(t, account_id);
  return true;
}

// A site's notes after one resync are bounded: past this many, the rest are dropped (and logged).
export const MAX_NOTES_PER_RESYNC = 100_000;

/** Keeps what a site knew beyond a resync for the restore report (a site's word: listed, never acted on). */
export async function keepNote(t: Tx, site: string, seq: number, mark: string, note: RestoreNote): Promise<boolean> {
  const counted = await t.sql.query(
    'UPDATE link_resyncs SET notes = notes + 1 WHERE site_id = $1 AND mark = $2 AND notes < $3 RETURNING 1',
    [site, mark, MAX_NOTES_PER_RESYNC],
  );
  if (counted.length === 0) return false; // no such resync, or its notes are full
  await t.sql.query(
    'INSERT INTO restore_notes (site_id, seq, mark, note, noted_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
    [site, seq, mark, note, t.now],
  );
  return true;
}

/**
 * Whether an account's money is held back: one of its sites is in a resync, or a sale a site made
 * before its resync waits for its money (`LinkService.rebook`); central must first book those
 * (escrow grants nothing of the account meanwhile; a site that asks is told to try again).
 */
export async function recovering(t: Tx, accountId: string): Promise<boolean> {
  const rows = await t.sql.query(
    `SELECT 1 FROM account_sites x JOIN sites s ON s.id = x.site_id
     WHERE x.account_id = $1 AND s.recover_mark IS NOT NULL
     UNION ALL
     SELECT 1 FROM refused_up WHERE account_id = $1 AND recover_mark IS NOT NULL AND rebooked_at IS NULL
     LIMIT 1`,
    [accountId],
  );
  return rows.length > 0;
}

/**
 * A sale from before a resync waits for money the account's sites hold: recall their shares of
 * its budgets (once: not while a recall of the same share is still on its way).
 */
export async function recallFor(t: Tx, accountId: string, budgets: readonly string[]): Promise<void> {
  for (const budget of budgets) {
    const held = await t.sql.query<{ site_id: string }>(
      `SELECT h.site_id FROM shares h
       WHERE h.account_id = $1 AND h.budget = $2 AND h.granted_ore - h.consumed_ore - h.returned_ore > 0
         AND NOT EXISTS (SELECT 1 FROM down_log d WHERE d.site_id = h.site_id AND d.change->>'kind' = 'recall'
                           AND d.change->>'account_id' = $1 AND d.change->>'budget' = $2)
       ORDER BY h.site_id`,
      [accountId, budget],
    );
    for (const { site_id } of held) await appendDown(t, site_id, { kind: 'recall', account_id: accountId, budget });
  }
}
