import { decodePayload, KantineError, LinkUp, MAX_LINK_PAYLOAD_BYTES } from '@kantine/protocol';
import type { Logger } from 'pino';
import type { AckUp, LinkService, Refusal } from './link.ts';

// Plain acks are taken together, at most this many in one transaction.
const MAX_ACKS_AT_ONCE = 2_000;

// A site that sends faster than central applies has at most this many messages waiting here;
// beyond that they are dropped, and the site re-sends them when its acks fall behind.
const MAX_QUEUED_PER_SITE = 1_000;

/**
 * What the sites send, as it arrives from the transport: decoded here (the boundary), then applied
 * in the order it came, one chain of work per site.
 */
export class LinkInbox {
  private readonly queues = new Map<string, { tail: Promise<void>; length: number }>();
  private stopping = false;
  /** Link messages this worker has handled (with several workers, its part of the traffic). */
  handled = 0;
  /** Plain acks waiting for the next batch, each with its site's chain waiting on it. */
  private acks: { site: string; msg: AckUp; done: () => void; failed: (err: unknown) => void }[] = [];
  private acking = false;

  constructor(
    private readonly link: LinkService,
    private readonly log: Logger,
  ) {}

  /** A site's message. */
  receive(site: string, payload: Buffer): void {
    if (this.stopping) return;
    let msg: LinkUp;
    try {
      msg = decodePayload(LinkUp, payload, MAX_LINK_PAYLOAD_BYTES);
    } catch (err) {
      const e = err as KantineError;
      this.log.warn({ site, code: e.code, details: e.details }, 'refused a link message');
      return;
    }
    const queue = this.queues.get(site) ?? { tail: Promise.resolve(), length: 0 };
    if (queue.length >= MAX_QUEUED_PER_SITE) {
      this.log.warn({ site }, 'link queue full; message dropped (the site re-sends)');
      return;
    }
    queue.length++;
    queue.tail = queue.tail
      .then(() => (msg.t === 'ack' && !msg.set_aside?.length ? this.ack(site, msg) : this.link.handleUp(site, msg)))
      .then((refusals) => {
        this.handled++;
        // The alarm: a site reported what central's own record refutes (a bug or a lying site).
        for (const r of refusals)
          this.log.error(
            { site: r.site, code: r.code, seq: r.seq, entry_id: r.entry_id, account_id: r.account_id, err: r.message },
            'refused a site’s report; set aside',
          );
      })
      .catch((err: Error) => {
        const code = err instanceof KantineError ? err.code : undefined;
        if (code === 'not_found') this.log.warn({ site, err: err.message }, 'link message for something unknown');
        else this.log.error({ site, err: err.message, t: msg.t }, 'link message failed');
      })
      .finally(() => {
        queue.length--;
      });
    this.queues.set(site, queue);
  }

  /**
   * A site's plain ack, applied with the other sites' acks that arrive meanwhile (a fan-out to a
   * thousand sites brings a thousand acks back at once: one transaction, not a thousand). The
   * site's chain waits for it, so its messages stay in order.
   */
  private ack(site: string, msg: AckUp): Promise<Refusal[]> {
    return new Promise<void>((done, failed) => {
      this.acks.push({ site, msg, done, failed });
      if (!this.acking) {
        this.acking = true;
        setImmediate(() => void this.flushAcks());
      }
    }).then(() => []);
  }

  private async flushAcks(): Promise<void> {
    while (this.acks.length > 0) {
      const batch = this.acks.splice(0, MAX_ACKS_AT_ONCE);
      try {
        // A site ahead of central's record is taken on its own (its resync), in its turn.
        const disagree = new Set(await this.link.handleAcks(batch));
        for (const a of batch) {
          if (!disagree.has(a)) a.done();
          else
            this.link.handleUp(a.site, a.msg).then(
              () => a.done(),
              (err) => a.failed(err),
            );
        }
      } catch (err) {
        for (const a of batch) a.failed(err);
      }
    }
    this.acking = false;
  }

  /** Takes no more messages. */
  stop(): void {
    this.stopping = true;
  }

  /** Resolves when every message taken has been handled. */
  async drained(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.tail));
  }
}
