import { type Code, type DownChange, KantineError, type LinkUp, type UpChange } from '@kantine/protocol';

/** A site's acknowledgement of central's changes. */
export type AckUp = Extract<LinkUp, { t: 'ack' }>;

import { lockAccount } from '../accounts/rows.ts';
import type { Store, Tx } from '../db/tx.ts';
import type { EscrowService } from '../escrow/escrow.ts';
import { applySiteEntry, applySiteReturn } from '../money/entries.ts';
import { allBookable, bookSiteChanges } from '../money/site-batch.ts';
import { applySiteMenu, menuRefused, orderHandedOut } from '../webshop/site-link.ts';
import { appendDown, type OnWithheld, type Publish, sendChanges } from './down-log.ts';
import {
  divergence,
  divergenceOf,
  endRecovery,
  keepNote,
  lockSiteLink,
  needsChangeAt,
  recallFor,
  regrantForRecovery,
  resync,
  type SiteLinkRow,
  type Standing,
} from './resync.ts';

/**
 * Something a site reported that central refused (design principle 12): set aside in
 * `refused_up` (an ask: answered `refused`), acknowledged so the site's later changes flow
 * (principle 13), and alarmed by the caller.
 */
export interface Refusal {
  site: string;
  code: Code;
  /** The change's position in the site's log (absent for an ask). */
  seq?: number;
  entry_id?: string;
  account_id: string;
  message: string;
}

// Postgres' integrity violations (class 23: check, unique, foreign key): what a site's change
// broke, not a fault of central's own. Anything else stops the message, to be re-sent.
const isIntegrityViolation = (err: unknown): boolean => /^23/.test(String((err as { code?: unknown }).code ?? ''));

// Unacknowledged changes are re-sent after this long (a lost message or a reconnect).
const RETRANSMIT_MS = 1_000;
// A site that was away gets at most this many changes per re-send; the rest after its ack.
const MAX_RESEND_CHANGES = 2_000;

/**
 * The link, central's end: a site's messages (its entries and returned shares, each applied
 * exactly once; its asks; its acks) and the re-sending of what a site has not acknowledged.
 */
export class LinkService {
  /** What this worker refused of the sites' reports since it started, by code (a metric). */
  readonly refused = new Map<Code, number>();
  /**
   * Changes this worker sent a site again since it started (a metric), by why: `silence` — not
   * acknowledged within a second (a site slow or unreachable, or its acks lost); `hello` — a site
   * (re)connected and said where it stands.
   */
  readonly resent = { silence: 0, hello: 0 };

  constructor(
    private readonly store: Store,
    private readonly publish: Publish,
    private readonly escrow: EscrowService,
  ) {}

  /** Automatic top-up (issue 19): a site's `topup` request is checked and answered here. */
  autotopup:
    | { request(t: Tx, site: string, c: Extract<UpChange, { kind: 'topup' }>): Promise<Refusal | undefined> }
    | undefined;

  /** The alarm for a change too large for any message, withheld from its site (central's log). */
  onWithheld: OnWithheld | undefined;

  /** The alarm for changes a site reported set aside (set by the service: central's log). */
  onSetAside: ((site: string, setAside: readonly { seq: number; code: string }[]) => void) | undefined;

  /** The alarm for a site central found ahead of its record (restored from a backup): it is resynced. */
  onResync: ((site: string, reason: string, mark: string) => void) | undefined;

  /** Resyncs this worker started since it began (a metric). */
  resyncs = 0;

  /**
   * A site's resyncs are at least this far apart. A resync sends the site every account it serves
   * whole, and a site that says it is ahead is believed (that is how a restore is repaired): a lying
   * site could otherwise make central do that on every message. Within the interval a diverging
   * site's message is held — nothing of it applied or acknowledged, so nothing is lost — and the
   * site's own re-sending brings it back once the interval is over.
   */
  resyncMinIntervalMs = 60_000;

  /** The alarm for a resync held back by `resyncMinIntervalMs` (set by the service: central's log). */
  onResyncHeld: ((site: string, reason: string) => void) | undefined;

  /**
   * Handles one message a site sent on its up topic (already validated by the transport).
   * Returns what central refused of it, for the caller to alarm.
   */
  async handleUp(site: string, msg: LinkUp): Promise<Refusal[]> {
    switch (msg.t) {
      case 'changes':
        return this.counted(await this.applyUp(site, msg.changes, msg));
      case 'ack':
        if (await this.checkStanding(site, msg)) return [];
        if (msg.set_aside?.length) await this.recordSetAside(site, msg.down_cursor, msg.set_aside);
        await this.acked(site, msg.down_cursor, msg.down_mark);
        return [];
      case 'hello':
        if (!(await this.checkStanding(site, msg))) {
          await this.acked(site, msg.down_cursor, msg.down_mark);
          await this.resend(site, msg.down_cursor, 'hello');
        }
        await this.sendUpAck(site);
        return [];
      case 'ask': {
        const { answer, refusal } = await this.escrow.answer(site, msg);
        this.publish(site, answer);
        return this.counted(refusal ? [{ site, account_id: msg.account_id, ...refusal }] : []);
      }
    }
  }

  /**
   * Many sites' plain acks (no `set_aside`) at once, as a fan-out brings them back: one
   * transaction of three statements whatever their number — the sites' rows locked in id order,
   * each site's standing compared with central's record as `checkStanding` compares it, then
   * every agreeing site's acknowledgement moved and its acknowledged changes deleted. At most one
   * ack per site. Returns the acks that disagree (a site ahead of central's record): the caller
   * takes each on its own (`handleUp`), which resyncs the site.
   */
  async handleAcks(acks: readonly { site: string; msg: AckUp }[]): Promise<{ site: string; msg: AckUp }[]> {
    if (acks.length === 0) return [];
    return this.store.tx(async (t) => {
      const ids = [...new Set(acks.map((a) => a.site))].sort();
      const rows = new Map(
        (
          await t.sql.query<SiteLinkRow & { id: string }>(
            `SELECT id, up_cursor, down_seq, down_acked, down_acked_mark, recover_mark FROM sites
              WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
            [ids],
          )
        ).map((r) => [r.id, r]),
      );
      // The down log's change at each cursor the comparison needs, in one read.
      const wanted = acks.filter((a) => {
        const row = rows.get(a.site);
        return row && needsChangeAt(row, a.msg);
      });
      const marks = new Map<string, string | null>();
      if (wanted.length > 0)
        for (const r of await t.sql.query<{ site_id: string; mark: string | null }>(
          `SELECT d.site_id, d.change->>'mark' AS mark FROM down_log d
             JOIN unnest($1::text[], $2::bigint[]) AS u(site_id, seq) ON d.site_id = u.site_id AND d.seq = u.seq`,
          [wanted.map((a) => a.site), wanted.map((a) => a.msg.down_cursor)],
        ))
          marks.set(r.site_id, r.mark);
      const agree: { site: string; msg: AckUp }[] = [];
      const disagree: { site: string; msg: AckUp }[] = [];
      for (const a of acks) {
        const row = rows.get(a.site);
        if (!row) continue; // no such site: nothing to acknowledge (as `acked` finds nothing)
        const gone = a.msg.down_mark === undefined && a.msg.up_acked === undefined;
        const reason = gone
          ? undefined
          : await divergenceOf(row, a.msg, () => (marks.has(a.site) ? { mark: marks.get(a.site) ?? null } : undefined));
        (reason ? disagree : agree).push(a);
      }
      if (agree.length > 0) {
        const sites = agree.map((a) => a.site);
        const cursors = agree.map((a) => a.msg.down_cursor);
        // The mark kept is the log's own (the site's was compared with it above), as in `acked`.
        await t.sql.query(
          `UPDATE sites s SET down_acked = u.cursor,
             down_acked_mark = COALESCE((SELECT d.change->>'mark' FROM down_log d WHERE d.site_id = s.id AND d.seq = u.cursor), u.mark)
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, cursor, mark)
            WHERE s.id = u.id AND s.down_acked < u.cursor AND u.cursor <= s.down_seq`,
          [sites, cursors, agree.map((a) => a.msg.down_mark ?? null)],
        );
        await t.sql.query(
          `DELETE FROM down_log d USING unnest($1::text[], $2::bigint[]) AS u(id, cursor)
            WHERE d.site_id = u.id AND d.seq <= u.cursor`,
          [sites, cursors],
        );
      }
      return disagree;
    });
  }

  private counted(refusals: Refusal[]): Refusal[] {
    for (const r of refusals) this.refused.set(r.code, (this.refused.get(r.code) ?? 0) + 1);
    return refusals;
  }

  /**
   * Compares where the site says it stands with central's record; a site ahead of it (central was
   * restored from an older backup) is resynced at once. Returns whether it was.
   */
  private async checkStanding(site: string, standing: Standing): Promise<boolean> {
    if (standing.down_mark === undefined && standing.up_acked === undefined) return false; // a site from before marks
    return this.store.tx(async (t) => {
      const row = await lockSiteLink(t, site);
      if (!row) return false;
      const reason = await divergence(t, site, row, standing);
      if (!reason) return false;
      if (await this.resyncedLately(t, site, reason)) return true; // held: neither applied nor acknowledged
      await this.startResync(t, site, row, standing, reason);
      return true;
    });
  }

  /** Whether the site's last resync began less than `resyncMinIntervalMs` ago (then counted and alarmed). */
  private async resyncedLately(t: Tx, site: string, reason: string): Promise<boolean> {
    const [last] = await t.sql.query<{ at: Date }>(
      'SELECT at FROM link_resyncs WHERE site_id = $1 ORDER BY at DESC LIMIT 1',
      [site],
    );
    if (!last || t.now.getTime() - new Date(last.at).getTime() >= this.resyncMinIntervalMs) return false;
    // Counted with the refusals (`kantine_central_link_refused_total{code="link_resync_held"}`).
    this.refused.set('link_resync_held', (this.refused.get('link_resync_held') ?? 0) + 1);
    this.onResyncHeld?.(site, reason);
    return true;
  }

  private async startResync(
    t: Tx,
    site: string,
    row: NonNullable<Awaited<ReturnType<typeof lockSiteLink>>>,
    standing: Standing,
    reason: string,
  ): Promise<void> {
    const mark = await resync(t, site, row, standing, reason);
    this.resyncs++;
    this.onResync?.(site, reason, mark);
  }

  private async sendUpAck(site: string): Promise<void> {
    const [row] = await this.store.db.query<{ up_cursor: number }>('SELECT up_cursor FROM sites WHERE id = $1', [site]);
    if (row) this.publish(site, { v: 1, t: 'ack', up_cursor: row.up_cursor });
  }

  /**
   * Applies a site's changes in order, each exactly once (the cursor moves in the same
   * transaction). A change central refuses is set aside and the cursor moves past it: one bad
   * change never holds back the ones after it.
   */
  private async applyUp(site: string, changes: readonly UpChange[], standing: Standing): Promise<Refusal[]> {
    const cursor = await this.store.tx(async (t) => {
      // The ordinary way (no resync running or due, only sales, voids and returns): the message is
      // booked as one set (money/site-batch.ts: the same checks, a few round trips), taking its
      // locks accounts → sites as a deposit does; it declines (and the way below books one change
      // at a time) if a resync began meanwhile.
      if (allBookable(changes)) {
        // The site's standing is compared under the locks the set takes (no read before them).
        const batch = await bookSiteChanges(
          t,
          site,
          changes,
          async (row) => (await divergence(t, site, row, standing)) !== undefined,
        );
        if (batch) return batch;
      }
      let row = await lockSiteLink(t, site);
      if (!row) throw new KantineError('not_found', `no site ${site}`);
      // A site ahead of central's record: resync it first, then take its changes in the new order.
      const reason = await divergence(t, site, row, standing);
      if (reason) {
        // Resynced a moment ago: the message waits (the site sends it again), nothing applied.
        if (await this.resyncedLately(t, site, reason)) return { at: row.up_cursor, gap: false, refusals: [] };
        await this.startResync(t, site, row, standing, reason);
        row = (await lockSiteLink(t, site)) ?? row;
      }
      const start = row.up_cursor;
      let recoverMark = row.recover_mark;
      let at = row.up_cursor;
      let gap = false;
      const refusals: Refusal[] = [];
      for (const c of [...changes].sort((a, b) => a.seq - b.seq)) {
        if (c.seq <= at) continue; // seen before: a duplicate or a re-send
        if (c.seq !== at + 1) {
          gap = true; // the site re-sends from our ack
          break;
        }
        const refusal = await this.applyOne(t, site, c, recoverMark);
        if (c.kind === 'resynced' && recoverMark === c.mark) recoverMark = null;
        if (refusal) {
          refusals.push(refusal);
          // Refused while the site is being resynced for want of money (and a void of such a sale):
          // tried again until the money is there (`rebook`); the account's shares wait for it.
          const again =
            recoverMark && (refusal.code === 'link_share_exceeded' || refusal.code === 'link_void_mismatch');
          await t.sql.query(
            `INSERT INTO refused_up (site_id, seq, code, change, refused_at, recover_mark, account_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
            [
              site,
              c.seq,
              refusal.code,
              c,
              t.now,
              again ? recoverMark : null,
              again && refusal.code === 'link_share_exceeded' ? refusal.account_id : null,
            ],
          );
        }
        at = c.seq;
      }
      if (at !== start) await t.sql.query('UPDATE sites SET up_cursor = $2 WHERE id = $1', [site, at]);
      return { at, gap, refusals };
    });
    this.publish(site, { v: 1, t: 'ack', up_cursor: cursor.at, ...(cursor.gap ? { gap: true } : {}) });
    return cursor.refusals;
  }

  /**
   * One change, checked against central's own record, in a savepoint: a refused change leaves
   * nothing behind (neither its rows nor what it queued for other sites).
   */
  private async applyOne(t: Tx, site: string, c: UpChange, recoverMark: string | null): Promise<Refusal | undefined> {
    if (c.kind === 'resynced') {
      await endRecovery(t, this.escrow, site, c.mark);
      return undefined;
    }
    if (c.kind === 'note') {
      await keepNote(t, site, c.seq, c.mark, c.note);
      return undefined;
    }
    // The webshop's changes (a kiosk's menu, an order handed out): checked against central's record there.
    if (c.kind === 'menu' || c.kind === 'preorder_handed_out') {
      await t.sql.query('SAVEPOINT up_change');
      try {
        if (c.kind === 'menu') await applySiteMenu(t, site, c.menu, c.seq);
        else await orderHandedOut(t, site, c.order_id, c.handed_out_at);
        await t.sql.query('RELEASE SAVEPOINT up_change');
        return undefined;
      } catch (err) {
        if (!(err instanceof KantineError) && !isIntegrityViolation(err)) throw err;
        await t.sql.query('ROLLBACK TO SAVEPOINT up_change');
        const code = err instanceof KantineError ? err.code : 'link_entry_invalid';
        // shopfix: the kiosk that sent a refused menu is told why.
        if (c.kind === 'menu') await menuRefused(t, site, c.menu, c.seq, code, (err as Error).message);
        return {
          site,
          seq: c.seq,
          code,
          account_id: '',
          message: (err as Error).message,
        };
      }
    }
    if (c.kind === 'topup') {
      if (this.autotopup) return this.autotopup.request(t, site, c);
      await appendDown(t, site, {
        kind: 'topup_result',
        request_id: c.request_id,
        outcome: 'failed',
        code: 'autotopup_no_agreement',
      });
      return undefined;
    }
    const accountId = c.kind === 'entry' ? c.entry.account_id : c.account_id;
    const queued = new Map([...t.out].map(([s, list]) => [s, list.length]));
    await t.sql.query('SAVEPOINT up_change');
    try {
      await lockAccount(t, accountId);
      // Made before the site's reset, on shares central no longer knows (docs/replication.md §Restore).
      const after = recoverMark ? await regrantForRecovery(t, this.escrow, site, recoverMark, c) : undefined;
      if (c.kind === 'entry') await applySiteEntry(t, this.escrow, site, c.entry);
      else await applySiteReturn(t, this.escrow, site, c.account_id, c.budget, c.amount_ore);
      await after?.();
      await t.sql.query('RELEASE SAVEPOINT up_change');
      return undefined;
    } catch (err) {
      const refused = err instanceof KantineError || isIntegrityViolation(err);
      if (!refused) throw err;
      await t.sql.query('ROLLBACK TO SAVEPOINT up_change');
      for (const [s, list] of t.out) list.length = queued.get(s) ?? 0;
      return {
        site,
        seq: c.seq,
        code:
          err instanceof KantineError
            ? err.code === 'not_found'
              ? 'link_account_not_served'
              : err.code
            : 'link_entry_invalid',
        account_id: accountId,
        ...(c.kind === 'entry' ? { entry_id: c.entry.id } : {}),
        message: (err as Error).message,
      };
    }
  }

  /**
   * The site moved past changes it could not apply (design note 13): each is kept, with the change
   * from the down log, until IT has looked (`down_set_aside`). Only changes the site has not yet
   * acknowledged can be reported; a repeat report changes nothing.
   */
  private async recordSetAside(
    site: string,
    cursor: number,
    setAside: readonly { seq: number; code: string }[],
  ): Promise<void> {
    const { db, clock } = this.store;
    for (const { seq, code } of setAside) {
      if (seq > cursor) continue;
      await db.query(
        `INSERT INTO down_set_aside (site_id, seq, code, change, reported_at)
         SELECT s.id, $2, $3, (SELECT change FROM down_log WHERE site_id = s.id AND seq = $2), $4
         FROM sites s WHERE s.id = $1 AND $2 > s.down_acked
         ON CONFLICT DO NOTHING`,
        [site, seq, code, clock.now()],
      );
    }
    this.onSetAside?.(site, setAside);
  }

  private async acked(site: string, cursor: number, mark: string | undefined): Promise<void> {
    const { db } = this.store;
    // The mark kept is the log's own (the site's was checked against it in `checkStanding`).
    await db.query(
      `UPDATE sites SET down_acked = $2,
         down_acked_mark = COALESCE((SELECT change->>'mark' FROM down_log WHERE site_id = $1 AND seq = $2), $3)
       WHERE id = $1 AND down_acked < $2 AND $2 <= down_seq`,
      [site, cursor, mark ?? null],
    );
    await db.query('DELETE FROM down_log WHERE site_id = $1 AND seq <= $2', [site, cursor]);
  }

  /** Re-sends a site's unacknowledged changes after `cursor`. */
  private async resend(site: string, cursor: number, why: keyof LinkService['resent']): Promise<void> {
    const rows = await this.store.db.query<{ change: DownChange }>(
      'SELECT change FROM down_log WHERE site_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [site, cursor, MAX_RESEND_CHANGES],
    );
    this.resent[why] += rows.length;
    if (rows.length > 0)
      sendChanges(
        this.publish,
        site,
        rows.map((r) => r.change),
        this.onWithheld,
      );
  }

  /**
   * Periodic work: re-send what sites have not acknowledged for a while (one worker claims each
   * site's re-send by moving `down_sent_at`).
   */
  async retransmit(): Promise<void> {
    const { db, clock } = this.store;
    const due = new Date(clock.now().getTime() - RETRANSMIT_MS);
    const sites = await db.query<{ id: string; down_acked: number }>(
      `UPDATE sites SET down_sent_at = $2 WHERE down_seq > down_acked AND down_sent_at <= $1 RETURNING id, down_acked`,
      [due, clock.now()],
    );
    for (const s of sites) await this.resend(s.id, s.down_acked, 'silence');
    await this.rebook();
  }

  /**
   * A site's sale from before its reset that central refused because its money was not free (it
   * came with a deposit central lost in the restore) is booked once the money is there: after an
   * administrator entered the deposit again, or the account's shares came back from its sites
   * (recalled here; the account gets no new shares meanwhile, see `recovering`). Every check of
   * the first try applies again; a change refused for another reason (a lie) stays refused.
   */
  async rebook(): Promise<number> {
    const rows = await this.store.db.query<{ site_id: string; seq: number }>(
      `SELECT site_id, seq FROM refused_up WHERE recover_mark IS NOT NULL AND rebooked_at IS NULL
       ORDER BY site_id, seq LIMIT $1`,
      [MAX_REBOOK_PER_TICK],
    );
    let booked = 0;
    for (const r of rows) {
      const done = await this.store.tx(async (t) => {
        await lockSiteLink(t, r.site_id);
        const [row] = await t.sql.query<{ change: UpChange; recover_mark: string }>(
          `SELECT change, recover_mark FROM refused_up
           WHERE site_id = $1 AND seq = $2 AND rebooked_at IS NULL FOR UPDATE`,
          [r.site_id, r.seq],
        );
        if (!row) return false;
        const refusal = await this.applyOne(t, r.site_id, row.change, row.recover_mark);
        if (!refusal) {
          await t.sql.query('UPDATE refused_up SET rebooked_at = $3 WHERE site_id = $1 AND seq = $2', [
            r.site_id,
            r.seq,
            t.now,
          ]);
          // The last one of its account: its money is shared out again.
          const c = row.change;
          const account = c.kind === 'entry' ? c.entry.account_id : c.kind === 'return' ? c.account_id : undefined;
          if (account) await this.escrow.rebalance(t, account);
          return true;
        }
        if (refusal.code === 'link_share_exceeded' && row.change.kind === 'entry')
          await recallFor(t, row.change.entry.account_id, row.change.entry.budgets);
        return false;
      });
      if (done) booked++;
    }
    return booked;
  }
}

// At most this many refused changes are tried again per tick (a bound on one tick's work).
const MAX_REBOOK_PER_TICK = 100;
