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

  recentDecisions(tillId: string, limit: number): Decision[] {
    return this.d.db
      .prepare<[string, number], { decision: string }>(
        'SELECT decision FROM taps WHERE till_id = ? ORDER BY decided_at DESC, tap_id DESC LIMIT ?',
      )
      .all(tillId, Math.min(Math.max(limit, 1), 500))
      .map((r) => JSON.parse(r.decision) as Decision);
  }
}
