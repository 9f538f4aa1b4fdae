import { EventEmitter } from 'node:events';
import { readerTopic, type Tap, type TapCancel } from '@kantine/protocol';
import type { Logger } from 'pino';
import type { MessageBus } from '../broker/bus.ts';
import { savepoint } from '../ledger/db.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { CentralLink, EscrowTurn } from '../link/central-link.ts';
import { cancelTap, type Decided } from './commit.ts';
import { decideTap, type TapResult } from './decide.ts';
import { ReaderReplies } from './publish.ts';

/**
 * Work for the processor: a tap from a reader, a reader's cancel, or a tap central has answered
 * for (it needed more shares than this site held) to be decided with that answer.
 */
export type TapWork = (
  | { kind: 'tap'; tap: Tap; till_id: string }
  | { kind: 'cancel'; cancel: TapCancel; till_id: string | null }
  | { kind: 'answered'; tap: Tap; till_id: string; turn: EscrowTurn }
) & {
  /** When the message reached the gateway (performance.now(), ms); kept across a question to central. */
  received?: number;
};

export interface TapProcessorEvents {
  /** After commit, for every decision made or replayed, with seconds since the message arrived. */
  decision: [decided: Decided, seconds: number];
  /** One group commit: how many taps shared one fsync. */
  batch: [size: number];
}

// A decision must still travel back to the reader (publish, LAN) before the reader's own timer
// runs out; the reader starts that timer a moment after the read. A tap decided later than its
// answer timeout minus this is declined `tap_stale`.
export const ANSWER_MARGIN_MS = 250;

// Work waiting beyond this means the disk cannot keep up; refusing new work (the readers retry)
// beats growing memory without bound.
const MAX_QUEUE = 10_000;

type NeedsShares = Extract<TapResult, { kind: 'needs_shares' }>;
type TapOnly = Extract<TapWork, { kind: 'tap' | 'answered' }>;

/**
 * The spine of the tap path: intake → processor → decide → commit → publish. Group commit: taps
 * that arrive while the event loop is busy are decided together in one transaction (one fsync),
 * then every decision is published, only after the commit. A sale beyond this site's escrow
 * shares is not decided: the processor asks central (`askCentral`) and decides it once more with
 * central's answer, as `answered` work.
 */
export class TapProcessor extends EventEmitter<TapProcessorEvents> {
  private queue: TapWork[] = [];
  private scheduled = false;
  /** Taps waiting for central to grant shares: a re-send of one of them is not decided twice. */
  private readonly asking = new Set<string>();
  /** The link to central, on a linked site: a sale beyond this site's shares asks it first. */
  link: CentralLink | undefined;
  /**
   * The readers' answer timeout (config `readers.answer_timeout_ms`, which readers are sent): a tap
   * older than this (less ANSWER_MARGIN_MS) when decided is declined `tap_stale`. Undefined: no
   * such check (simulations on a virtual clock).
   */
  answerTimeoutMs: number | undefined;
  private readonly replies: ReaderReplies;

  constructor(
    readonly ledger: Ledger,
    bus: MessageBus,
    private readonly site: string,
    private readonly maxBatch: number,
    private readonly log: Logger,
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {
    super();
    this.replies = new ReaderReplies(bus, site);
  }

  enqueue(work: TapWork): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.log.warn(
        { tap_id: tapIdOf(work), backlog: this.queue.length },
        'tap queue full; dropping (the reader will re-send)',
      );
      return;
    }
    if (work.kind === 'tap' && this.asking.has(work.tap.tap_id)) {
      this.log.debug({ tap_id: work.tap.tap_id }, 'tap re-sent while central is asked; ignored');
      return;
    }
    work.received ??= performance.now(); // stamped on the item itself: no copy per tap
    this.queue.push(work);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a timer: every message already read from the sockets joins the batch,
      // and a lone tap waits for no clock.
      this.schedule(() => this.flush());
    }
  }

  /** Decides everything queued now, in batches of at most `maxBatch`. */
  flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
    if (batch.length === 0) return;

    let decided: { d: Decided; work: TapWork }[];
    const asks: { work: TapOnly; needs: NeedsShares }[] = [];
    let failed: TapWork[] = [];
    try {
      // The fast path: the whole batch in one transaction, no savepoints.
      decided = this.ledger.transaction(() => batch.flatMap((work) => this.decide(work, asks)));
    } catch (batchErr) {
      // One tap failed (a bug, a broken row) or the commit did. Retry tap by tap, each in a
      // savepoint, so one bad tap cannot take the rest of the batch with it.
      this.log.warn({ err: batchErr, tap_ids: batch.map(tapIdOf) }, 'batch failed; retrying tap by tap');
      decided = [];
      failed = [];
      asks.length = 0;
      try {
        this.ledger.transaction(() => {
          for (const work of batch) {
            try {
              decided.push(...savepoint(this.ledger.db, () => this.decide(work, asks)));
            } catch (err) {
              failed.push(work);
              this.log.error({ tap_id: tapIdOf(work), err }, 'tap failed; no decision');
            }
          }
        });
      } catch (err) {
        // The commit itself failed (disk full, I/O error): nothing was decided, nothing is
        // published; the readers re-send and we try again.
        this.log.error({ err, tap_ids: batch.map(tapIdOf) }, 'group commit failed; no decisions published');
        return;
      }
    }
    this.emit('batch', batch.length);
    this.link?.flush();
    for (const { work, needs } of asks) this.askCentral(work, needs);
    for (const { d, work } of decided) {
      this.replies.decision(d.decision, d.json);
      this.emit('decision', d, (performance.now() - (work.received ?? performance.now())) / 1000);
    }
    for (const work of failed) {
      const reader = readerIdOf(work);
      const topic = readerTopic(this.site, reader, work.kind === 'cancel' ? 'cancel' : 'tap');
      this.replies.error(reader, topic, 'internal_error', 'the gateway could not decide this tap', tapIdOf(work));
    }
  }

  /** Decides one piece of work; a sale that needs more shares is set aside in `asks`. */
  private decide(work: TapWork, asks: { work: TapOnly; needs: NeedsShares }[]): { d: Decided; work: TapWork }[] {
    if (work.kind === 'cancel') return [{ d: cancelTap(this.ledger, work.cancel, work.till_id), work }];
    // First time: a linked site online may ask central. Answered: decide with what central said.
    const turn = work.kind === 'answered' ? work.turn : { mayAsk: this.link?.online === true };
    const stale = this.answerTimeoutMs !== undefined && this.ageMs(work) >= this.answerTimeoutMs - ANSWER_MARGIN_MS;
    const result = decideTap(this.ledger, work.tap, work.till_id, turn, stale);
    switch (result.kind) {
      case 'decided':
        return [{ d: result.decided, work }];
      case 'needs_shares':
        this.log.debug({ tap_id: work.tap.tap_id }, "beyond this site's shares: asking central");
        asks.push({ work, needs: result });
        return [];
    }
  }

  /**
   * How long ago the card was read, now. With `age_ms` (the reader's monotonic clock at the send)
   * plus the time the copy has spent here since it arrived (queue, a question to central): no
   * wall clock is compared, so a Pi's clock that differs from the gateway's changes nothing; the
   * copy's time on the LAN is not counted (ms) and the margin covers it. Without `age_ms` (older
   * readers) the gateway's clock against `read_at`.
   */
  private ageMs(work: TapOnly): number {
    const here = performance.now() - (work.received ?? performance.now());
    if (work.tap.age_ms !== undefined) return work.tap.age_ms + here;
    return this.ledger.clock.now().getTime() - Date.parse(work.tap.read_at);
  }

  /** Asks central for the shares, then decides the tap again (once, whatever the answer). */
  private askCentral(work: TapOnly, needs: NeedsShares): void {
    const link = this.link;
    if (!link) return;
    this.asking.add(work.tap.tap_id);
    link
      .ask(needs.account_id, needs.needs)
      .catch((err: unknown) => {
        this.log.error({ tap_id: work.tap.tap_id, err }, 'asking central failed');
        return { mayAsk: false } satisfies EscrowTurn;
      })
      .then((turn) => {
        this.asking.delete(work.tap.tap_id);
        const { tap, till_id, received } = work;
        this.enqueue({ kind: 'answered', tap, till_id, turn, ...(received === undefined ? {} : { received }) });
      });
  }
}

function tapIdOf(work: TapWork): string {
  return work.kind === 'cancel' ? work.cancel.tap_id : work.tap.tap_id;
}

function readerIdOf(work: TapWork): string {
  return work.kind === 'cancel' ? work.cancel.reader_id : work.tap.reader_id;
}
