import { EventEmitter } from 'node:events';
import { readCard, type VirtualCard } from '@kantine/card';
import type { CardRead } from '@kantine/protocol';
import type { CardPort, CardPortEvents } from './card-port.ts';

/**
 * A card reader without hardware: `present()` lays a card on it, `remove()` takes it away.
 * Like a real reader it reports a card once per presentation, however long it lies there.
 * A card is a UID (a UID-only card) or a card twin, which is read as a real reader reads it
 * (only the radio is skipped; the PC/SC port reads twins through pcscd).
 */
export class SimulatedPort extends EventEmitter<CardPortEvents> implements CardPort {
  readonly kind = 'sim' as const;
  readonly name = 'Simulated reader';
  private started = false;
  private present_card: string | VirtualCard | undefined;

  get ready(): boolean {
    return this.started;
  }

  async start(): Promise<void> {
    this.started = true;
    this.emit('ready', true, this.name);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.present_card = undefined;
  }

  /** Lays a card on the reader. A card already lying there is not read again. */
  present(card: string | VirtualCard): void {
    if (!this.started) throw new Error('SimulatedPort: present() before start()');
    const key = typeof card === 'string' ? card.toUpperCase() : card;
    if (this.present_card === key) return;
    this.present_card = key;
    if (typeof card === 'string') {
      const read: CardRead = { kind: 'legacy', uid: card.toUpperCase() };
      this.emit('card', read);
      return;
    }
    card.reset(); // the card enters the field: power on
    readCard(async (apdu) => card.transmit(apdu)).then(
      (read) => this.emit('card', read),
      (err: Error) => this.emit('misread', err),
    );
  }

  remove(): void {
    this.present_card = undefined;
  }

  /** A tap: the card is laid on the reader and taken away again. */
  tap(card: string | VirtualCard): void {
    this.present(card);
    this.remove();
  }
}
