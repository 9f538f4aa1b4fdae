import type { RestoreNote } from '@kantine/protocol';
import type { Sql } from '../db/db.ts';

/**
 * The restore report (docs/operations/central.md §Restoring from a backup): what central made
 * after the backup it was restored from and cannot get back from the sites — deposits,
 * withdrawals and fees, blocks, limits and other account changes — as the sites still knew it,
 * with what to enter again. The sites' sales and voids are not in it: the sites send them again
 * and central books them (docs/replication.md §Restore).
 *
 * It is made from what the sites reported after their resync, a site's word: nothing here is
 * booked or changed by central. Each item is listed only while central still lacks it (an entry
 * re-entered with its id, a card blocked again, drops out).
 */
export interface RestoreReport {
  /** Every resync of a site's link, newest first: when, why, and whether the site has caught up. */
  resyncs: {
    site: string;
    at: string;
    reason: string;
    done_at: string | null;
  }[];
  /** Entries a site booked that central no longer has. */
  entries: {
    id: string;
    account_id: string;
    kind: 'deposit' | 'withdrawal' | 'fee' | 'purchase' | 'void';
    amount_ore: number;
    origin: string;
    created_at: string;
    /** The sites that reported it. */
    sites: string[];
    /** What to do: the request that enters it again (with its id), or why nothing is needed yet. */
    action: string;
  }[];
  /** Cards a site held in another state than central has now (e.g. blocked after the backup). */
  cards: {
    uid: string;
    account_id: string | null;
    site: string;
    site_state: string;
    central_state: string | null;
    action: string;
  }[];
  /** Accounts a site held otherwise than central (limits, allergies, …), or that central lacks. */
  accounts: {
    account_id: string;
    site: string;
    first_name: string;
    last_name: string;
    missing_at_central: boolean;
    fields: string[];
    site_limits: { place_kind: string; period: string; limit_ore: number }[];
    action: string;
  }[];
  /**
   * A site's sales and voids central refused since the first resync and has not booked since: a
   * sale from before a resync whose money went with a lost deposit (booked by itself once the
   * deposit is entered again), or a lie.
   */
  refused: {
    site: string;
    seq: number;
    code: string;
    entry_id: string | null;
    account_id: string | null;
    at: string;
  }[];
  /** What central booked of the sites' sales from before their resync beyond what it knew it had granted. */
  regranted: { site: string; budget: string; amount_ore: number; entries: number }[];
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export async function restoreReport(db: Sql): Promise<RestoreReport> {
  const resyncs = (
    await db.query<{ site_id: string; at: Date; reason: string; done_at: Date | null }>(
      'SELECT site_id, at, reason, done_at FROM link_resyncs ORDER BY at DESC, site_id',
    )
  ).map((r) => ({ site: r.site_id, at: iso(r.at) as string, reason: r.reason, done_at: iso(r.done_at) }));
  const notes = await db.query<{ site_id: string; note: RestoreNote }>(
    'SELECT site_id, note FROM restore_notes ORDER BY noted_at, site_id, seq',
  );

  // Entries: once per id, only while central lacks it.
  const entries = new Map<string, RestoreReport['entries'][number]>();
  const wanted = notes.flatMap((n) => (n.note.what === 'entry' ? [n.note.entry.id] : []));
  const known = new Set(
    wanted.length === 0
      ? []
      : (await db.query<{ id: string }>('SELECT id FROM entries WHERE id = ANY($1)', [wanted])).map((r) => r.id),
  );
  for (const { site_id, note } of notes) {
    if (note.what !== 'entry' || known.has(note.entry.id)) continue;
    const e = note.entry;
    const had = entries.get(e.id);
    if (had) {
      if (!had.sites.includes(site_id)) had.sites.push(site_id);
      continue;
    }
    entries.set(e.id, { ...e, sites: [site_id], action: entryAction(e) });
  }

  // Cards: the latest word of each site, only while central's state still differs.
  const cardNotes = new Map<string, { site: string; note: Extract<RestoreNote, { what: 'card' }> }>();
  for (const { site_id, note } of notes)
    if (note.what === 'card') cardNotes.set(`${site_id} ${note.uid}`, { site: site_id, note });
  const cardRows = new Map(
    (
      await db.query<{ uid: string; state: string; account_id: string | null }>(
        'SELECT uid, state, account_id FROM cards WHERE uid = ANY($1)',
        [[...cardNotes.values()].map((c) => c.note.uid)],
      )
    ).map((r) => [r.uid, r]),
  );
  const cards: RestoreReport['cards'] = [];
  for (const { site, note } of cardNotes.values()) {
    const now = cardRows.get(note.uid);
    if (now && now.state === note.state && now.account_id === note.account_id) continue;
    cards.push({
      uid: note.uid,
      account_id: note.account_id,
      site,
      site_state: note.state,
      central_state: now?.state ?? null,
      action: cardAction(note, now?.state ?? null),
    });
  }

  // Accounts: the latest word of each site on each account; dropped once central has it as the site had it.
  const accountNotes = new Map<string, { site: string; note: Extract<RestoreNote, { what: 'account' }> }>();
  for (const { site_id, note } of notes)
    if (note.what === 'account') accountNotes.set(`${site_id} ${note.account_id}`, { site: site_id, note });
  const accounts: RestoreReport['accounts'] = [];
  for (const { site, note } of accountNotes.values()) {
    const [now] = await db.query<{ id: string }>('SELECT id FROM accounts WHERE id = $1', [note.account_id]);
    // Only the limits are in the note: once central has them as the site had, they were entered again.
    if (now && !note.missing && note.fields.every((f) => f === 'limits') && (await limitsMatch(db, note))) continue;
    accounts.push({
      account_id: note.account_id,
      site,
      first_name: note.first_name,
      last_name: note.last_name,
      missing_at_central: !now,
      fields: note.fields,
      site_limits: note.limits,
      action: now
        ? `PUT /api/accounts/${note.account_id} again with the guardians' choices (${note.fields.join(', ')}) as they were`
        : `PUT /api/accounts/${note.account_id} again (made after the backup), with its sites, limits and cards`,
    });
  }

  const [first] = await db.query<{ at: Date | null }>('SELECT MIN(at) AS at FROM link_resyncs');
  const refused = first?.at
    ? (
        await db.query<{
          site_id: string;
          seq: number;
          code: string;
          change: Record<string, unknown>;
          refused_at: Date;
        }>(
          `SELECT site_id, seq, code, change, refused_at FROM refused_up
           WHERE refused_at >= $1 AND rebooked_at IS NULL ORDER BY refused_at, site_id, seq`,
          [first.at],
        )
      ).map((r) => {
        const entry = r.change.entry as { id?: string; account_id?: string } | undefined;
        return {
          site: r.site_id,
          seq: r.seq,
          code: r.code,
          entry_id: entry?.id ?? null,
          account_id: entry?.account_id ?? (r.change.account_id as string | undefined) ?? null,
          at: iso(r.refused_at) as string,
        };
      })
    : [];
  const regranted = await db.query<{ site: string; budget: string; amount_ore: number; entries: number }>(
    `SELECT site_id AS site, budget, SUM(amount_ore)::bigint AS amount_ore, COUNT(*)::int AS entries
     FROM restore_regrants GROUP BY site_id, budget ORDER BY site_id, budget`,
  );
  return { resyncs, entries: [...entries.values()], cards, accounts, refused, regranted };
}

async function limitsMatch(db: Sql, note: Extract<RestoreNote, { what: 'account' }>): Promise<boolean> {
  const now = await db.query<{ place_kind: string; period: string; limit_ore: number }>(
    'SELECT place_kind, period, limit_ore FROM spend_limits WHERE account_id = $1 ORDER BY place_kind, period',
    [note.account_id],
  );
  const key = (l: { place_kind: string; period: string; limit_ore: number }) =>
    `${l.place_kind}:${l.period}:${l.limit_ore}`;
  return JSON.stringify(now.map(key).sort()) === JSON.stringify(note.limits.map(key).sort());
}

function entryAction(e: Extract<RestoreNote, { what: 'entry' }>['entry']): string {
  switch (e.kind) {
    case 'deposit':
      return `POST /api/accounts/${e.account_id}/deposits {"id":"${e.id}","amount_ore":${e.amount_ore}} (after checking the payment provider's record)`;
    case 'withdrawal':
    case 'fee':
      return `POST /api/accounts/${e.account_id}/withdrawals {"id":"${e.id}","amount_ore":${-e.amount_ore},"kind":"${e.kind}"}`;
    default:
      return e.origin === 'central'
        ? 'none: a sale is never made at central'
        : `none yet: site ${e.origin} sends it again when it resyncs; if it stays listed, check that site's link`;
  }
}

function cardAction(note: Extract<RestoreNote, { what: 'card' }>, central: string | null): string {
  if (note.state === 'blocked') return `POST /api/cards/${note.uid}/block (it was blocked after the backup)`;
  if (central === null)
    return `PUT /api/cards/${note.uid} again (registered after the backup), then activate or stock it`;
  if (note.state === 'active' && note.account_id)
    return `POST /api/cards/${note.uid}/activate {"account_id":"${note.account_id}"} (activated after the backup)`;
  return `check card ${note.uid}: ${note.state} at the site, ${central} at central`;
}
