import { randomBytes } from 'node:crypto';
import { type DownChange, type LinkDown, packChanges, type UnsequencedDown } from '@kantine/protocol';
import type { Tx } from '../db/tx.ts';

/** Sends one message to one site's down topic (the link transport: MQTT, or the simulation's net). */
export type Publish = (site: string, message: LinkDown) => void;

/** A new random mark for a down change (docs/replication.md §Restore): 64 bits, hex. */
export function newMark(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Appends a change to a site's down log (in the caller's transaction). Every concept that
 * changes what a site knows queues it here; the site gets it after the commit, and again until
 * it acknowledges it. Each change gets a random mark: the site acknowledges with it, so central
 * knows its log from one it lost in a restore.
 */
export async function appendDown(t: Tx, site: string, change: UnsequencedDown): Promise<number> {
  const [row] = await t.sql.query<{ down_seq: number }>(
    'UPDATE sites SET down_seq = down_seq + 1, down_sent_at = $2 WHERE id = $1 RETURNING down_seq',
    [site, t.now],
  );
  if (!row) throw new Error(`no site ${site}`); // callers pass sites from the database
  const full = { mark: newMark(), ...change, seq: row.down_seq } as DownChange;
  await t.sql.query('INSERT INTO down_log (site_id, seq, change) VALUES ($1, $2, $3)', [site, row.down_seq, full]);
  const list = t.out.get(site) ?? [];
  list.push(full);
  t.out.set(site, list);
  return row.down_seq;
}

/**
 * Asks a site to give back its share of an account's budget (a `recall`), unless a recall of that
 * share is still in the site's log, unacknowledged, with no grant or reset after it: an offline
 * school is asked once, not once per retry of whatever waits for the money (a webshop order polls
 * twice a second, a till asking for a share every few seconds, the minute's rebalance). Only for
 * callers that ask again: a site may have applied the waiting recall without its ack having
 * arrived, and a void since may have given it some share back — the next try, after the ack,
 * recalls that. A one-shot cause (a site removed from the account) appends its recall always.
 * Returns whether one was appended.
 */
export async function appendRecall(t: Tx, site: string, account_id: string, budget: string): Promise<boolean> {
  const [last] = await t.sql.query<{ kind: string }>(
    `SELECT change->>'kind' AS kind FROM down_log
     WHERE site_id = $1 AND (change->>'kind' = 'reset'
       OR (change->>'kind' IN ('grant', 'recall') AND change->>'account_id' = $2 AND change->>'budget' = $3))
     ORDER BY seq DESC LIMIT 1`,
    [site, account_id, budget],
  );
  if (last?.kind === 'recall') return false;
  await appendDown(t, site, { kind: 'recall', account_id, budget });
  return true;
}

/**
 * Appends one change to the down logs of many sites at once (in the caller's transaction): one
 * statement whatever the number of sites — a card blocked at a thousand schools is not two
 * thousand round trips. Each copy has its own sequence number in its site's log and its own mark,
 * as `appendDown` gives them; the sites' rows are locked in id order. Returns each site's number.
 */
export async function appendDownTo(
  t: Tx,
  sites: readonly string[],
  change: UnsequencedDown,
): Promise<Map<string, number>> {
  if (sites.length === 1) {
    const site = sites[0] as string;
    return new Map([[site, await appendDown(t, site, change)]]);
  }
  const ids = [...new Set(sites)].sort();
  const seqs = new Map<string, number>();
  if (ids.length === 0) return seqs;
  const marks = ids.map(() => newMark());
  // One statement: the sites locked in id order, each one's log moved on, each copy written.
  const rows = await t.sql.query<{ id: string; down_seq: number | string }>(
    `WITH l AS (SELECT id FROM sites WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE),
     u AS (UPDATE sites s SET down_seq = s.down_seq + 1, down_sent_at = $2 FROM l WHERE s.id = l.id
           RETURNING s.id, s.down_seq),
     i AS (INSERT INTO down_log (site_id, seq, change)
           SELECT u.id, u.down_seq,
                  jsonb_build_object('mark', m.mark) || $3::jsonb || jsonb_build_object('seq', u.down_seq)
             FROM u JOIN unnest($1::text[], $4::text[]) AS m(id, mark) ON m.id = u.id
           RETURNING site_id, seq)
     SELECT site_id AS id, seq AS down_seq FROM i`,
    [ids, t.now, JSON.stringify(change), marks],
  );
  if (rows.length !== ids.length) throw new Error(`no site among ${ids.join(', ')}`); // callers pass sites from the database
  for (const r of rows) seqs.set(r.id, Number(r.down_seq));
  const full = ids.map((site, i) => ({ mark: marks[i], ...change, seq: seqs.get(site) as number }) as DownChange);
  for (const [i, site] of ids.entries()) {
    const list = t.out.get(site) ?? [];
    list.push(full[i] as DownChange);
    t.out.set(site, list);
  }
  return seqs;
}

/** Told of a change too large for any message: it is withheld (the alarm is the caller's). */
export type OnWithheld = (site: string, change: DownChange) => void;

/**
 * Sends a site's changes, packed into messages by their size (at most MAX_LINK_PAYLOAD_BYTES and
 * MAX_CHANGES_PER_MESSAGE each), so the site's bound never refuses a message. A change too large
 * for any message — impossible by schema — goes as a `withheld` stand-in: the site moves past it
 * and the changes after it still arrive (design note 13).
 */
export function sendChanges(
  publish: Publish,
  site: string,
  changes: readonly DownChange[],
  onWithheld?: OnWithheld,
): void {
  const messages = packChanges<DownChange>(changes, (change) => {
    onWithheld?.(site, change);
    return { seq: change.seq, kind: 'withheld', code: 'link_change_too_large' };
  });
  for (const list of messages) publish(site, { v: 1, t: 'changes', changes: list });
}
