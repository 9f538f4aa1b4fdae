import {
  type Decision,
  type LinkEvent,
  type ReaderEvent,
  type ReaderStatus,
  type SaleEvent,
  siteEventTopic,
  type TapEvent,
} from '@kantine/protocol';
import type { MessageBus } from '../broker/bus.ts';
import { EmbeddedBroker } from '../broker/embedded-broker.ts';
import type { Clock } from '../clock.ts';
import type { TapProcessor } from '../taps/processor.ts';

/**
 * The site's events for integrations (`kantine/{site}/events/…`, docs/protocol.md): every fresh
 * decision as a `tap` event and an approved sale also as a `sale`; each reader's status and the
 * link to central, retained.
 */
export class SiteEvents {
  private stopped = false;
  /**
   * Whether a `tap` or `sale` event can reach anyone. On the embedded broker only integrations may
   * subscribe to the events, so a site with none publishes no per-tap events (two QoS 1 publishes
   * and serialisations per sale saved); an external broker has its own ACL, so there always.
   */
  private watched = true;

  constructor(
    private readonly bus: MessageBus,
    private readonly site: string,
    private readonly clock: Clock,
    /** The till a reader stands at, for decisions that do not name one. */
    private readonly tillOf: (readerId: string) => string | null | undefined,
  ) {}

  /** Publishes the processor's fresh decisions (not replays) as they are committed. */
  listen(processor: TapProcessor): void {
    const integrations = processor.ledger.integrations;
    const embedded = this.bus instanceof EmbeddedBroker;
    // Asked again before every group commit's decisions go out (one indexed read per batch), so an
    // integration added from the command line, a moment before it connects, gets every event.
    processor.on('batch', () => {
      this.watched = !embedded || integrations.anyActive();
    });
    processor.on('decision', ({ decision, replay }) => {
      if (!replay && this.watched) this.decision(decision);
    });
  }

  /** Readers' last wills arrive while the broker closes: nobody is left to tell. */
  stop(): void {
    this.stopped = true;
  }

  private publish(topic: string, event: object, retain = false): void {
    if (this.stopped) return;
    this.bus.publish(topic, JSON.stringify(event), { qos: 1, retain });
  }

  /** A fresh decision as a `tap` event; an approved sale also as a `sale` event with its lines. */
  decision(d: Decision): void {
    const tillId = d.till_id ?? this.tillOf(d.reader_id) ?? undefined;
    const tap: TapEvent = {
      v: 1,
      tap_id: d.tap_id,
      reader_id: d.reader_id,
      ...(tillId ? { till_id: tillId } : {}),
      outcome: d.outcome,
      ...(d.code ? { code: d.code } : {}),
      ...(d.amount_ore !== undefined ? { amount_ore: d.amount_ore } : {}),
      ...(d.card_kind ? { card_kind: d.card_kind } : {}),
      decided_at: d.decided_at,
    };
    this.publish(siteEventTopic(this.site, 'tap'), tap);
    if (d.outcome === 'approved' && tillId && d.entry_id && d.amount_ore !== undefined) {
      const sale: SaleEvent = {
        v: 1,
        tap_id: d.tap_id,
        entry_id: d.entry_id,
        reader_id: d.reader_id,
        till_id: tillId,
        amount_ore: d.amount_ore,
        lines: d.lines ?? [],
        decided_at: d.decided_at,
      };
      this.publish(siteEventTopic(this.site, 'sale'), sale);
    }
  }

  /** A reader's status, retained. */
  reader(status: ReaderStatus): void {
    const tillId = this.tillOf(status.reader_id);
    const event: ReaderEvent = { ...status, ...(tillId ? { till_id: tillId } : {}) };
    this.publish(siteEventTopic(this.site, 'reader', status.reader_id), event, true);
  }

  /** The link to central's state and backlog, retained. */
  link(state: LinkEvent['state'], backlog: number): void {
    const event: LinkEvent = { v: 1, state, backlog, at: this.clock.now().toISOString() };
    this.publish(siteEventTopic(this.site, 'link'), event, true);
  }
}
