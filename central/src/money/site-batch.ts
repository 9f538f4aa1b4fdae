import {
  BALANCE_BUDGET,
  type DownChange,
  type LinkCard,
  type PlaceKind,
  parseBudget,
  type SiteEntry,
  type UnsequencedDown,
  type UpChange,
} from '@kantine/protocol';

/** What the set way books: a site's sales, voids and returns (a resync's markers go one at a time). */
export type BookableChange = Extract<UpChange, { kind: 'entry' | 'return' }>;

/** True when every change of a message is one the set way books. */
export function allBookable(changes: readonly UpChange[]): changes is readonly BookableChange[] {
  return changes.every((c) => c.kind === 'entry' || c.kind === 'return');
}

import type { Tx } from '../db/tx.ts';
import { newMark } from '../link/down-log.ts';
import type { Refusal } from '../link/link.ts';
import type { SiteLinkRow } from '../link/resync.ts';
import { centralEntry, type EntryRow } from './entries.ts';

/** What a site's message did: the cursor it reached, whether changes were missing, what was refused. */
export interface BookedChanges {
  at: number;
  gap: boolean;
  refusals: Refusal[];
}

// The spelling of a time every gateway sends (Date#toISOString, or an offset). Any other spelling
// (more than milliseconds, a leap second) is booked one change at a time, where Postgres reads the
// time and the copy for other sites is made from what it stored.
const PLAIN_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)$/;
const plainTime = (s: string): boolean => PLAIN_TIME.test(s) && !Number.isNaN(Date.parse(s));

// Postgres' integrity violations (class 23): a row the plan did not foresee.
const isIntegrityViolation = (err: unknown): boolean => /^23/.test(String((err as { code?: unknown }).code ?? ''));

// Where a set broke a constraint its plan did not foresee (most likely: an entry id another
// transaction booked at the same moment), by site and the first change it was to book: the retry,
// and the site's re-sends, book from there one change at a time. Only this worker's own; bounded,
// the oldest forgotten (a forgotten one costs one more failed set).
const MAX_ONE_BY_ONE = 1_000;
const oneByOne = new Set<string>();
function rememberOneByOne(site: string, seq: number): void {
  oneByOne.add(`${site}\u0000${seq}`);
  for (const old of oneByOne) {
    if (oneByOne.size <= MAX_ONE_BY_ONE) break;
    oneByOne.delete(old);
  }
}

interface Share {
  granted_ore: number;
  consumed_ore: number;
  returned_ore: number;
}
interface KnownEntry {
  account_id: string;
  kind: string;
  amount_ore: number;
  origin: string;
  place_kind: string | null;
  budgets: string[] | null;
  voided: boolean;
}
interface CardRow {
  uid: string;
  account_id: string;
  state: LinkCard['state'];
  kind: LinkCard['kind'];
  batch_id: string | null;
  sun_counter: number;
}

/** Central's record of what a message names, as `site_batch_record` returns it (a json object). */
interface CentralRecord {
  accounts: [string, number][] | null;
  cards: CardRow[] | null;
  sites: ({ id: string; place_kinds: PlaceKind[] } & SiteLinkRow)[] | null;
  links: [string, string][] | null;
  shares: [string, string, number, number, number][] | null;
  entries: [string, string, string, number, string, string | null, string[] | null, boolean][] | null;
}

/** A change refused while planning: its code and why (the refusal's message). */
class Refused {
  constructor(
    readonly code: 'link_account_not_served' | 'link_entry_invalid' | 'link_void_mismatch' | 'link_share_exceeded',
    readonly message: string,
  ) {}
}

const shareKey = (account: string, budget: string): string => `${account}\u0000${budget}`;
const accountOf = (c: BookableChange): string => (c.kind === 'entry' ? c.entry.account_id : c.account_id);

/**
 * Books one message of a site's changes as one set: the rows it touches are locked in a fixed
 * order (accounts, then cards, then sites, each by id) and then read, in one call of the
 * server-side function `site_batch_record` (migration 19; the read runs after the locks are held,
 * so it cannot be older than they are), every change is
 * checked in order against that record exactly as `applySiteEntry`/`applySiteReturn` check it
 * (a refused change books nothing and is set aside), and everything the message books is written
 * in one call of `site_batch_write` (migration 22), with the transaction's COMMIT right behind it.
 * Two round trips for up to 200 changes on Postgres (BEGIN with the lock and read, the write with
 * COMMIT), where one change at a time took about six per change.
 *
 * When it writes, it commits the caller's transaction: the caller runs nothing in it after a
 * booked set (it returns the set's outcome).
 *
 * Returns undefined, having written nothing, when the message is to be booked one change at a
 * time instead (the caller's way, which the database's constraints then judge change by change):
 * a time in an unusual spelling, or a set that broke a constraint its plan did not foresee (that
 * transaction fails as a serialization failure, retried at once on Postgres; the retry goes one
 * change at a time).
 */
export async function bookSiteChanges(
  t: Tx,
  site: string,
  changes: readonly BookableChange[],
  /** Whether the site's standing disagrees with its row (a resync is due): then this way declines. */
  diverges: (row: SiteLinkRow) => Promise<boolean> = async () => false,
): Promise<BookedChanges | undefined> {
  const sorted = [...changes].sort((a, b) => a.seq - b.seq);
  const accountIds = [...new Set(sorted.map(accountOf))];

  const cardUids = [...new Set(sorted.flatMap((c) => (c.kind === 'entry' && c.entry.card ? [c.entry.card.uid] : [])))];
  const entryIds = [
    ...new Set(
      sorted.flatMap((c) =>
        c.kind === 'entry' ? [c.entry.id, ...(c.entry.voids_entry_id ? [c.entry.voids_entry_id] : [])] : [],
      ),
    ),
  ];
  // Locks, in the order every writer of these rows takes them: the accounts, their cards, then
  // the sites (the change's own, for its cursor, and the account's others, for their down logs);
  // then central's record of what the message refers to, all of it hanging from those accounts,
  // read once every lock is held (migration 19's site_batch_record): as fresh as the locks.
  const [row] = await t.sql.query<{ record: CentralRecord }>(
    'SELECT site_batch_record($1, $2::text[], $3::text[], $4::text[]) AS record',
    [site, accountIds, entryIds, cardUids],
  );
  const facts = row?.record;
  const accounts = new Map(facts?.accounts ?? []);
  const cards = new Map((facts?.cards ?? []).map((c) => [c.uid, c]));
  const siteRows = facts?.sites ?? [];
  const own = siteRows.find((s) => s.id === site);
  if (!own) return undefined; // no such site: the caller's way says so
  if (own.recover_mark !== null) return undefined; // a resync began: the caller's way books it
  if (await diverges(own)) return undefined; // a resync is due: the caller's way starts it
  // Taken after the locks, so that the caller's way finds them held in this order too.
  if (changes.some((c) => c.kind === 'entry' && !plainTime(c.entry.created_at))) return undefined;
  if (oneByOne.has(`${site}\u0000${own.up_cursor + 1}`)) return undefined;

  const sitesOfAccount = new Map<string, string[]>();
  for (const [account, s] of facts?.links ?? [])
    sitesOfAccount.set(account, [...(sitesOfAccount.get(account) ?? []), s]);
  const shares = new Map<string, Share>();
  const holdsShare = new Set<string>();
  for (const [account, budget, granted_ore, consumed_ore, returned_ore] of facts?.shares ?? []) {
    shares.set(shareKey(account, budget), { granted_ore, consumed_ore, returned_ore });
    holdsShare.add(account);
  }
  const known = new Map<string, KnownEntry>();
  for (const [id, account_id, kind, amount_ore, origin, place_kind, budgets, voided] of facts?.entries ?? [])
    known.set(id, { account_id, kind, amount_ore, origin, place_kind, budgets, voided });

  // The plan: every change in order, checked against the record as the earlier ones left it.
  const balances = new Map(accounts);
  const moved = new Map<string, { account_id: string; budget: string; consumed_ore: number; returned_ore: number }>();
  const booked: EntryRow[] = [];
  const refusals: Refusal[] = [];
  const refusedRows: { seq: number; code: string; change: string }[] = [];
  const downSeq = new Map(siteRows.map((s) => [s.id, s.down_seq]));
  const down: { site_id: string; change: DownChange }[] = [];
  const raised = new Map<string, number>();
  const queueDown = (sites: readonly string[], change: UnsequencedDown) => {
    for (const s of sites) {
      const seq = (downSeq.get(s) ?? 0) + 1;
      downSeq.set(s, seq);
      // each copy with its own random mark, as appendDown gives it (docs/replication.md §Restore)
      down.push({ site_id: s, change: { mark: newMark(), ...change, seq } as DownChange });
    }
  };
  const moveShare = (account: string, budget: string, column: 'consumed_ore' | 'returned_ore', amount_ore: number) => {
    const key = shareKey(account, budget);
    const share = shares.get(key) as Share;
    share[column] += amount_ore;
    const m = moved.get(key) ?? { account_id: account, budget, consumed_ore: 0, returned_ore: 0 };
    m[column] += amount_ore;
    moved.set(key, m);
  };

  let at = own.up_cursor;
  let gap = false;
  for (const c of sorted) {
    if (c.seq <= at) continue; // seen before: a duplicate or a re-send
    if (c.seq !== at + 1) {
      gap = true; // the site re-sends from our ack
      break;
    }
    at = c.seq;
    const account = accountOf(c);
    try {
      if (!balances.has(account)) throw new Refused('link_account_not_served', `no account ${account}`);
      if (c.kind === 'return') {
        const share = shares.get(shareKey(account, c.budget));
        if (!share || outstanding(share) < c.amount_ore)
          throw new Refused(
            'link_share_exceeded',
            `site ${site} gave back ${c.amount_ore} øre of ${c.budget} it does not hold`,
          );
        if (share.returned_ore + c.amount_ore < 0) throw new Refused('link_entry_invalid', 'a share would go negative');
        moveShare(account, c.budget, 'returned_ore', c.amount_ore);
        continue;
      }
      const e = c.entry;
      const others = (sitesOfAccount.get(account) ?? []).filter((s) => s !== site).sort();
      checkEntry(site, own.place_kinds, e, {
        serves: (sitesOfAccount.get(account) ?? []).includes(site) || holdsShare.has(account),
        known,
        shares,
      });
      if (known.has(e.id)) continue; // applied before (checkEntry refused it if it is not this site's)
      const balance = (balances.get(account) as number) + e.amount_ore;
      if (balance < 0) throw new Refused('link_entry_invalid', `entry ${e.id} takes the balance below zero`);
      for (const budget of e.budgets) {
        const share = shares.get(shareKey(account, budget)) as Share;
        if (share.consumed_ore - e.amount_ore < 0)
          throw new Refused('link_entry_invalid', `entry ${e.id} gives back more of ${budget} than was spent`);
      }
      // Booked: the entry with its running balance, the shares it used up (or gave back), the
      // copy for the account's other sites, and the card's SUN counter.
      balances.set(account, balance);
      for (const budget of e.budgets) moveShare(account, budget, 'consumed_ore', -e.amount_ore);
      const row: EntryRow = {
        seq: 0,
        id: e.id,
        account_id: account,
        kind: e.kind,
        amount_ore: e.amount_ore,
        balance_after_ore: balance,
        origin: site,
        place_kind: e.place_kind,
        voids_entry_id: e.voids_entry_id || null,
        reason: e.reason || null,
        lines: e.lines ?? null,
        tap_id: e.tap_id || null,
        budgets: e.budgets,
        created_at: e.created_at,
      };
      booked.push(row);
      known.set(e.id, {
        account_id: account,
        kind: e.kind,
        amount_ore: e.amount_ore,
        origin: site,
        place_kind: e.place_kind,
        budgets: e.budgets,
        voided: false,
      });
      if (row.voids_entry_id) (known.get(row.voids_entry_id) as KnownEntry).voided = true;
      if (others.length > 0) queueDown(others, { kind: 'entry', entry: centralEntry(row) });
      const card = e.card && e.kind === 'purchase' ? cards.get(e.card.uid) : undefined;
      if (e.card && card && card.account_id === account && card.sun_counter < e.card.sun_counter) {
        card.sun_counter = e.card.sun_counter;
        raised.set(card.uid, card.sun_counter);
        queueDown(others, { kind: 'card', card: { ...card } });
      }
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      refusals.push({
        site,
        seq: c.seq,
        code: err.code,
        account_id: account,
        ...(c.kind === 'entry' ? { entry_id: c.entry.id } : {}),
        message: err.message,
      });
      refusedRows.push({ seq: c.seq, code: err.code, change: JSON.stringify(c) });
    }
  }
  if (at === own.up_cursor) return { at, gap, refusals };

  const out = {
    entries: booked,
    accounts: [...balances].filter(([id, b]) => accounts.get(id) !== b),
    shares: [...moved.values()],
    cards: [...raised],
    down,
    sites: [...downSeq].filter(([id, seq]) => id !== site && seq !== siteRows.find((s) => s.id === id)?.down_seq),
  };
  try {
    // The last statement of the transaction: COMMIT goes out behind it, one round trip for both;
    // the function fails (and so commits nothing) when what it wrote is not what the plan checked.
    await t.sql.queryAndCommit(WRITE, [
      site,
      t.now,
      at,
      // Each entry as an array of its columns (`p_entries`): a third of the text of objects.
      JSON.stringify(
        out.entries.map((r) => [
          r.id,
          r.account_id,
          r.kind,
          r.amount_ore,
          r.balance_after_ore,
          r.place_kind,
          r.voids_entry_id,
          r.reason,
          r.lines,
          r.tap_id,
          r.budgets,
          r.created_at,
        ]),
      ),
      out.accounts.map(([id]) => id),
      out.accounts.map(([, b]) => b),
      out.shares.map((s) => s.account_id),
      out.shares.map((s) => s.budget),
      out.shares.map((s) => s.consumed_ore),
      out.shares.map((s) => s.returned_ore),
      out.cards.map(([uid]) => uid),
      out.cards.map(([, n]) => n),
      out.down.map((d) => d.site_id),
      out.down.map((d) => d.change.seq),
      out.down.map((d) => JSON.stringify(d.change)),
      out.sites.map(([id]) => id),
      out.sites.map(([, seq]) => seq),
      refusedRows.map((r) => r.seq),
      refusedRows.map((r) => r.code),
      refusedRows.map((r) => r.change),
    ]);
  } catch (err) {
    if (!isIntegrityViolation(err)) throw err;
    // The transaction is lost; its retry (at once on Postgres, else the site's re-send) books
    // these changes one at a time, where the constraint refuses just the change that broke it.
    rememberOneByOne(site, own.up_cursor + 1);
    throw Object.assign(new Error(`site ${site}: ${(err as Error).message}; booked one change at a time`), {
      code: '40001',
    });
  }
  for (const d of down) {
    const list = t.out.get(d.site_id) ?? [];
    list.push(d.change);
    t.out.set(d.site_id, list);
  }
  return { at, gap, refusals };
}

const outstanding = (s: Share): number => s.granted_ore - s.consumed_ore - s.returned_ore;

/**
 * The checks of `applySiteEntry`, in its order, against the record as the message's earlier
 * changes left it. Throws `Refused`; returns when the entry may be booked (or was booked before).
 */
function checkEntry(
  site: string,
  placeKinds: readonly PlaceKind[],
  e: SiteEntry,
  record: { serves: boolean; known: ReadonlyMap<string, KnownEntry>; shares: ReadonlyMap<string, Share> },
): void {
  if (!record.serves || !placeKinds.includes(e.place_kind))
    throw new Refused('link_account_not_served', `site ${site} does not serve ${e.account_id} (${e.place_kind})`);
  const seen = record.known.get(e.id);
  if (seen) {
    if (seen.account_id !== e.account_id || seen.origin !== site)
      throw new Refused('link_entry_invalid', `entry id ${e.id} is taken`);
    return; // applied before
  }
  if (new Set(e.budgets).size !== e.budgets.length)
    throw new Refused('link_entry_invalid', `entry ${e.id} names a budget twice`);
  if (e.kind === 'purchase') {
    if (e.amount_ore >= 0 || e.voids_entry_id !== undefined)
      throw new Refused('link_entry_invalid', `purchase ${e.id} must take money and void nothing`);
    if (!e.budgets.includes(BALANCE_BUDGET))
      throw new Refused('link_entry_invalid', `purchase ${e.id} does not draw on the balance`);
    for (const budget of e.budgets) {
      const p = parseBudget(budget);
      if (p && p.kind !== e.place_kind)
        throw new Refused('link_entry_invalid', `purchase ${e.id} draws on another place's limit ${budget}`);
    }
  } else {
    const sale = e.voids_entry_id ? record.known.get(e.voids_entry_id) : undefined;
    if (!e.voids_entry_id || e.amount_ore <= 0) throw new Refused('link_void_mismatch', `void ${e.id} names no sale`);
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
      throw new Refused('link_void_mismatch', `void ${e.id} does not undo sale ${e.voids_entry_id} of ${site}`);
  }
  for (const budget of e.budgets) {
    const share = record.shares.get(shareKey(e.account_id, budget));
    if (!share || (e.amount_ore < 0 && outstanding(share) < -e.amount_ore))
      throw new Refused('link_share_exceeded', `site ${site} spent ${-e.amount_ore} øre of ${budget} beyond its share`);
  }
}

/**
 * Everything one message books, in one call of `site_batch_write` (central migration 22): the
 * entries (in the message's order, so their `seq` follows it), the accounts' new balances, the
 * shares' movements, raised SUN counters, the copies for other sites and their down counters,
 * what was refused, and the site's cursor. The tables' CHECKs, unique keys and triggers judge the
 * result as they judge a single change, and the function fails when fewer entries or shares were
 * written than the plan holds.
 */
const WRITE = `SELECT site_batch_write($1, $2, $3, $4::jsonb, $5::text[], $6::bigint[], $7::text[], $8::text[],
  $9::bigint[], $10::bigint[], $11::text[], $12::integer[], $13::text[], $14::bigint[], $15::text[], $16::text[],
  $17::bigint[], $18::bigint[], $19::text[], $20::text[])`;
