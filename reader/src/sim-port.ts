import { EventEmitter } from 'node:events';
import type { CardRead } from '@kantine/protocol';
import type { CardPort, CardPortEvents } from './card-port.ts';

/**
 * A card reader without hardware: `present()` lays a card on it, `remove()` takes it away.
 * Like a real reader it reports a card once per presentation, however long it lies there.
 */
export class SimulatedPort extends EventEmitter<CardPortEvents> implements CardPort {
  readonly kind = 'sim' as const;
  readonly name = 'Simulated reader';
  private started = false;
  private present_uid: string | undefined;

  get ready(): boolean {
    return this.started;
  }

  async start(): Promise<void> {
    this.started = true;
    this.emit('ready', true, this.name);
  }

  async stop(): Promise<void> {
    this.started = false;
    this.present_uid = undefined;
  }

  /** Lays a card on the reader. A card already lying there is not read again. */
  present(uid: string): void {
    if (!this.started) throw new Error('SimulatedPort: present() before start()');
    if (this.present_uid === uid) return;
    this.present_uid = uid;
    const card: CardRead = { kind: 'legacy', uid: uid.toUpperCase() };
    this.emit('card', card);
  }

  remove(): void {
    this.present_uid = undefined;
  }

  /** A tap: the card is laid on the reader and taken away again. */
  tap(uid: string): void {
    this.present(uid);
    this.remove();
  }
}
