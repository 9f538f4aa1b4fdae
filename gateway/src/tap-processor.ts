import { EventEmitter } from 'node:events';
import { type ErrorCode, type ProtocolError, readerTopic, type Tap, type TapCancel } from '@kantine/protocol';
import type { Logger } from 'pino';
import type { MessageBus } from './bus.ts';
import type { CentralLink } from './central-link.ts';
import type { Decided, EscrowTurn, Ledger, ShareNeeds } from './ledger.ts';

export type TapWork = (
  | { kind: 'tap'; tap: Tap; till_id: string; turn?: EscrowTurn }
  | { kind: 'cancel'; cancel: TapCancel; till_id: string | null }
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

// Work waiting beyond this means the disk cannot keep up; refusing new work (the readers retry)
// beats growing memory without bound.
const MAX_QUEUE = 10_000;

/**
 * Group commit: taps that arrive while the event loop is busy are decided together in one
 * transaction (one fsync), then every decision is published, only after the commit.
 */
export class TapProcessor extends EventEmitter<TapProcessorEvents> {
  private queue: TapWork[] = [];
  private scheduled = false;
  /** Taps waiting for central to grant shares: a re-send of one of them is not decided twice. */
  private readonly asking = new Set<string>();
  /** The link to central, on a linked site: a sale beyond this site's shares asks it first. */
  link: CentralLink | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly bus: MessageBus,
    private readonly site: string,
    private readonly maxBatch: number,
    private readonly log: Logger,
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {
    super();
  }

  enqueue(work: TapWork): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.log.warn(
        { tap_id: tapIdOf(work), backlog: this.queue.length },
        'tap queue full; dropping (the reader will re-send)',
      );
      return;
    }
    if (work.kind === 'tap' && !work.turn && this.asking.has(work.tap.tap_id)) {
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
    const asks: { work: Extract<TapWork, { kind: 'tap' }>; needs: ShareNeeds }[] = [];
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
              decided.push(...this.ledger.db.transaction(() => this.decide(work, asks))());
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
      this.bus.publish(readerTopic(this.site, d.decision.reader_id, 'decision'), JSON.stringify(d.decision), {
        qos: 1,
      });
      this.emit('decision', d, (performance.now() - (work.received ?? performance.now())) / 1000);
    }
    for (const work of failed) {
      const reader = readerIdOf(work);
      const topic = readerTopic(this.site, reader, work.kind);
      this.sendError(reader, topic, 'internal_error', 'the gateway could not decide this tap', tapIdOf(work));
    }
  }

  /** Decides one piece of work; a sale that needs more shares is set aside in `asks`. */
  private decide(
    work: TapWork,
    asks: { work: Extract<TapWork, { kind: 'tap' }>; needs: ShareNeeds }[],
  ): { d: Decided; work: TapWork }[] {
    if (work.kind === 'cancel') return [{ d: this.ledger.cancelTap(work.cancel, work.till_id), work }];
    const turn = work.turn ?? { mayAsk: this.link?.online === true };
    const d = this.ledger.tryTap(work.tap, work.till_id, turn);
    if ('needs' in d) {
      this.log.debug({ tap_id: work.tap.tap_id }, "beyond this site's shares: asking central");
      asks.push({ work, needs: d });
      return [];
    }
    return [{ d, work }];
  }

  /** Asks central for the shares, then decides the tap again (once, whatever the answer). */
  private askCentral(work: Extract<TapWork, { kind: 'tap' }>, needs: ShareNeeds): void {
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
        this.enqueue({ ...work, turn });
      });
  }

  /** Tells a reader its message was refused (nothing changed). */
  sendError(
    readerId: string,
    topic: string,
    code: ErrorCode,
    message: string,
    tapId?: string,
    details: readonly string[] = [],
  ): void {
    const error: ProtocolError = {
      v: 1,
      code,
      message,
      topic,
      ...(tapId ? { tap_id: tapId } : {}),
      details: [...details],
    };
    this.bus.publish(readerTopic(this.site, readerId, 'error'), JSON.stringify(error), { qos: 0 });
  }
}

function tapIdOf(work: TapWork): string {
  return work.kind === 'tap' ? work.tap.tap_id : work.cancel.tap_id;
}

function readerIdOf(work: TapWork): string {
  return work.kind === 'tap' ? work.tap.reader_id : work.cancel.reader_id;
}
