import type { Decision } from '@kantine/protocol';
import type { Db } from './db.ts';

/** The row of one decided tap: its decision is stored whole, so a repeated tap id gets the same answer. */
export interface TapRecord {
  tap_id: string;
  reader_id: string;
  till_id: string | null;
  card_uid: string | null;
  decision: Decision;
}

/** Every tap decided here, with its decision: replays answer from it, reports count declines from it. */
export class TapLog {
  private readonly stmt;

  constructor(private readonly d: Db) {
    const { db } = d;
    this.stmt = {
      getTap: db.prepare<[string], string>('SELECT decision FROM taps WHERE tap_id = ?').pluck(),
      insertTap: db.prepare<[string, string, string | null, string | null, string, string | null, string, string]>(
        `INSERT INTO taps (tap_id, reader_id, till_id, card_uid, outcome, code, decision, decided_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** A tap's stored decision, with the JSON text it is stored (and published) as. */
  storedDecision(tapId: string): { decision: Decision; json: string } | undefined {
    const json = this.stmt.getTap.get(tapId);
    return json === undefined ? undefined : { decision: JSON.parse(json) as Decision, json };
  }

  /** Stores a tap's decision; returns its JSON text, which is also what the reader is sent. */
  record(r: TapRecord): string {
    const json = JSON.stringify(r.decision);
    const d = r.decision;
    this.stmt.insertTap.run(
      r.tap_id,
      r.reader_id,
      r.till_id,
      r.card_uid,
      d.outcome,
      d.code ?? null,
      json,
      d.decided_at,
    );
    return json;
  }

  /**
   * A till's latest decisions since `since` (an ISO time), newest first. The taps that made no
   * sale are indexed by till (`taps_by_till`, partial); an approved tap is found through its sale's
   * entry, which has the till and the same time (schema 12: one index page fewer per sale). The
   * sales are indexed by time, then till (schema 13): the site's sales since `since` are walked
   * back until this till's `limit` are found — so `since` bounds the walk for a till that sold
   * nothing lately (without it, every sale the site ever made).
   */
  recentDecisions(tillId: string, limit: number, since: string): Decision[] {
    const n = Math.min(Math.max(limit, 1), 500);
    type Row = { decision: string; decided_at: string; tap_id: string };
    const { db } = this.d;
    const unsold = db
      .prepare<[string, string, number], Row>(
        `SELECT decision, decided_at, tap_id FROM taps WHERE outcome <> 'approved' AND till_id = ? AND decided_at >= ?
         ORDER BY decided_at DESC, tap_id DESC LIMIT ?`,
      )
      .all(tillId, since, n);
    const sold = db
      .prepare<[string, string, number], Row>(
        `SELECT t.decision, t.decided_at, t.tap_id FROM entries e JOIN taps t ON t.tap_id = e.tap_id
         WHERE e.till_id = ? AND e.created_at >= ? AND e.kind = 'purchase' AND e.origin IS NULL
           AND t.outcome = 'approved'
         ORDER BY e.created_at DESC, e.seq DESC LIMIT ?`,
      )
      .all(tillId, since, n);
    const newestFirst = (a: Row, b: Row) =>
      a.decided_at === b.decided_at ? (a.tap_id < b.tap_id ? 1 : -1) : a.decided_at < b.decided_at ? 1 : -1;
    return [...unsold, ...sold]
      .sort(newestFirst)
      .slice(0, n)
      .map((r) => JSON.parse(r.decision) as Decision);
  }
}
