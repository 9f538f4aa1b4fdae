import { EventEmitter } from 'node:events';
import { readCard } from '@kantine/card';
import type { CardPort, CardPortEvents } from '../card-port.ts';
import type { EscapeChannel } from '../feedback.ts';
import {
  cardTransmit,
  closeQuietly,
  type Nfc,
  type NfcConstructor,
  type NfcReader,
  onCardLaid,
  pcscdListening,
  pcscdSocket,
  readerWanted,
} from './nfc-pcsc.ts';

/**
 * The reader daemon's card port on PC/SC (nfc-pcsc over our own PC/SC layer, see nfc-pcsc.ts).
 * The port heals what the library cannot: a dead PC/SC context (pcscd restarted) is rebuilt, a
 * reader that goes away is waited for, and a card pulled away mid-read gives no tap.
 */

// After the PC/SC context dies (pcscd restarted), wait this long before building a new one,
// doubling up to the max: a reader that heals slowly is a queue at the till.
const RESTART_DELAY_MS = 250;
const RESTART_DELAY_MAX_MS = 2_000;
// A reader gone this long without a new one appearing: rebuild the context anyway, a safety net
// should the error that tells us the context died ever be lost.
const ORPHAN_MS = 3_000;
// A failed read is retried this far apart, for this long, while pcscd still sees a card.
const READ_RETRY_MS = 150;
const READ_RETRY_WINDOW_MS = 3_000;

export class PcscPort extends EventEmitter<CardPortEvents> implements CardPort {
  readonly kind = 'pcsc' as const;
  private nfc: Nfc | undefined;
  private readers = new Set<NfcReader>();
  private reader: NfcReader | undefined;
  private stopCards: (() => void) | undefined;
  private reading = false;
  private stopped = true;
  private restartDelay = RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private orphanTimer: NodeJS.Timeout | undefined;
  private pcscdMissing = false;

  constructor(
    private readonly NFC: NfcConstructor,
    private readonly options: { readerName?: string } = {},
  ) {
    super();
  }

  get ready(): boolean {
    return this.reader !== undefined;
  }

  get name(): string | undefined {
    return this.reader?.name;
  }

  /**
   * The open reader's escape channel, for LED and buzzer feedback: a CCID escape through a direct
   * connection when no card holds one (after a quick tap the card is already gone).
   */
  escape(): EscapeChannel | undefined {
    const reader = this.reader;
    if (!reader) return undefined;
    return {
      transmit: async (apdu) => {
        if (reader.connection) return reader.control(apdu, 2);
        await reader.connect('CONNECT_MODE_DIRECT');
        try {
          return await reader.control(apdu, 2);
        } finally {
          await reader.disconnect().catch(() => undefined);
        }
      },
    };
  }

  async start(): Promise<void> {
    this.stopped = false;
    void this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.orphanTimer);
    this.restartTimer = undefined;
    this.closeContext();
  }

  private async open(): Promise<void> {
    // Ask pcscd's socket first: a missing pcscd is said once, plainly, and retried on a timer,
    // instead of a context failing (and the error repeating) every round.
    if (!(await pcscdListening())) {
      if (!this.pcscdMissing) this.emit('error', new Error(`pcscd is not running (no answer on ${pcscdSocket()})`));
      this.pcscdMissing = true;
      this.scheduleRestart();
      return;
    }
    this.pcscdMissing = false;
    if (this.stopped || this.nfc) return;
    let nfc: Nfc;
    try {
      nfc = new this.NFC();
    } catch (err) {
      this.emit('error', err as Error);
      this.scheduleRestart();
      return;
    }
    this.nfc = nfc;
    nfc.on('reader', (reader: NfcReader) => {
      if (this.nfc !== nfc) {
        reader.close();
        return;
      }
      this.readers.add(reader);
      reader.on('error', (err: Error) => {
        if (this.nfc === nfc) this.emit('error', err);
      });
      reader.on('end', () => {
        this.readers.delete(reader);
        closeQuietly(reader); // its status thread would otherwise keep polling a dead handle
        if (this.reader === reader) this.lose();
      });
      this.attach(reader);
    });
    nfc.on('error', (err: Error) => {
      // A context we closed reports its own cancellation ("Command cancelled"): not a fault.
      if (this.nfc !== nfc) return;
      // A dead context (pcscd gone) never recovers by itself: build a new one.
      this.emit('error', err);
      this.scheduleRestart();
    });
  }

  /** Closes every reader the context reported (an unclosed one keeps a thread and the process alive). */
  private closeContext(): void {
    const nfc = this.nfc;
    const readers = [...this.readers];
    this.nfc = undefined;
    this.readers.clear();
    this.detach();
    for (const closable of [...readers, nfc]) closeQuietly(closable);
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    this.closeContext();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.open();
    }, this.restartDelay);
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_DELAY_MAX_MS);
  }

  private attach(reader: NfcReader): void {
    if (this.reader || !readerWanted(reader, this.options.readerName)) return; // one reader per till
    this.reader = reader;
    this.stopCards = onCardLaid(reader, () => {
      void this.read(reader);
    });
    this.restartDelay = RESTART_DELAY_MS;
    clearTimeout(this.orphanTimer);
    this.emit('ready', true, reader.name);
  }

  private detach(): void {
    const reader = this.reader;
    if (!reader) return;
    this.stopCards?.();
    this.stopCards = undefined;
    this.reader = undefined;
    this.emit('ready', false, undefined);
  }

  /** The reader went away (unplugged, or pcscd lost it): use another, or wait for it to return. */
  private lose(): void {
    this.detach();
    for (const other of this.readers) this.attach(other);
    if (this.reader || this.stopped) return;
    clearTimeout(this.orphanTimer);
    this.orphanTimer = setTimeout(() => {
      if (!this.reader) this.scheduleRestart();
    }, ORPHAN_MS);
  }

  /**
   * Reads the card on the reader. Only a whole read is ever published. A read that fails tells
   * the child to tap again at once, and while pcscd still sees a card (it was laid back before
   * pcscd noticed it leave) the read is retried on a fresh connection for a short while.
   */
  private async read(reader: NfcReader): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    const until = Date.now() + READ_RETRY_WINDOW_MS;
    let told = false;
    try {
      for (;;) {
        try {
          const card = await readCard(cardTransmit(reader));
          if (this.reader === reader && !this.stopped) this.emit('card', card);
          return;
        } catch (err) {
          if (!told) this.emit('misread', err as Error);
          told = true;
          if (Date.now() > until || !(await this.reconnect(reader))) return;
        }
      }
    } finally {
      this.reading = false;
    }
  }

  /** Waits, then connects afresh if pcscd still sees a card; false once the card is gone. */
  private async reconnect(reader: NfcReader): Promise<boolean> {
    await new Promise((r) => setTimeout(r, READ_RETRY_MS));
    if (this.reader !== reader || this.stopped || !reader.card) return false;
    try {
      if (reader.connection) await reader.disconnect();
    } catch {
      // already disconnected
    }
    // A failed connect is tried again on the next round, until the window closes.
    await reader.connect().catch(() => undefined);
    return true;
  }
}
