import type { EventEmitter } from 'node:events';
import type { CardRead } from '@kantine/protocol';

export interface CardPortEvents {
  /** Once per presentation of a card: a card held on the reader is one tap. */
  card: [card: CardRead];
  /** The NFC hardware came or went (reader unplugged, pcscd restarted, …). */
  ready: [ready: boolean, name: string | undefined];
  /** A card was there but could not be read whole (pulled away mid-read): no tap. */
  misread: [err: Error];
  error: [err: Error];
}

/**
 * The boundary to the NFC hardware. The PC/SC port (pcsc/port.ts) is the only one that touches
 * it; the simulated port is a real export, used by the demo, tests and benchmarks.
 */
export interface CardPort extends EventEmitter<CardPortEvents> {
  readonly kind: 'pcsc' | 'sim';
  readonly ready: boolean;
  readonly name: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}
