import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import { readCard } from '@kantine/card';
import type { CardPort, CardPortEvents } from './card-port.ts';
import type { EscapeChannel } from './feedback.ts';
import { type PcscCardReader, PcscLite, pcscLiteAvailable } from './pcsc-lite.ts';

/**
 * The only module that touches `nfc-pcsc` (and, through it and pcsc-lite.ts, pcscd and the NFC
 * hardware). The library has had no release since 2021, so it stays behind this port, on our own
 * PC/SC layer, and the port heals what it cannot: a dead PC/SC context (pcscd restarted) is
 * rebuilt, a reader that goes away is waited for, and a card pulled away mid-read gives no tap.
 */

// The parts of nfc-pcsc we use (it ships no types).
interface PcscReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  connection: unknown;
  /** Set while a card is on the reader (nfc-pcsc clears it when the card leaves). */
  card: unknown;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  control(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  connect(mode?: string): Promise<unknown>;
  disconnect(): Promise<unknown>;
  close(): void;
}
interface Nfc extends EventEmitter {
  close(): void;
}
type NfcConstructor = new (logger?: unknown) => Nfc;
type ReaderConstructor = new (reader: PcscCardReader, logger?: unknown) => EventEmitter;

/**
 * nfc-pcsc's NFC over our own PC/SC layer ({@link PcscLite}): its Reader and ACR122Reader classes
 * drive the cards, on readers that pcsc-lite.ts watches (nfc-pcsc's own watch, @pokusew/pcsclite,
 * loses readers unplugged soon after a tap). Undefined where nfc-pcsc (an optional dependency),
 * koffi or libpcsclite is missing.
 */
export function loadNfcPcsc(): NfcConstructor | undefined {
  try {
    const require = createRequire(import.meta.url);
    // The reader classes only: nfc-pcsc's index would load @pokusew/pcsclite's native watch too.
    const { default: Reader } = require('nfc-pcsc/dist/Reader.js') as { default: ReaderConstructor };
    const { default: ACR122Reader } = require('nfc-pcsc/dist/ACR122Reader.js') as { default: ReaderConstructor };
    if (!pcscLiteAvailable()) return undefined;
    return class NfcPcsc extends PcscLite {
      constructor(logger?: unknown) {
        // nfc-pcsc's own rule: ACR122U and ACR1252U readers get the ACS commands (LED, buzzer).
        super((reader) =>
          /acr12[25]/i.test(reader.name) ? new ACR122Reader(reader, logger) : new Reader(reader, logger),
        );
      }
    };
  } catch {
    return undefined;
  }
}

// After the PC/SC context dies (pcscd restarted), wait this long before building a new one,
// doubling up to the max: a reader that heals slowly is a queue at the till.
const RESTART_DELAY_MS = 250;
const RESTART_DELAY_MAX_MS = 2_000;
// A reader gone this long without a new one appearing: rebuild the context anyway, a safety net
// should the error that tells us the context died ever be lost.
const ORPHAN_MS = 3_000;
// pcscd's client socket (pcsc-lite's default; PCSCLITE_CSOCK_NAME moves it, as for libpcsclite,
// which reads it when the first context is made).
const pcscdSocket = () => process.env.PCSCLITE_CSOCK_NAME || '/run/pcscd/pcscd.comm';
// The longest answer we read: a short APDU's 256 bytes and the status word.
const MAX_RESPONSE = 258;
// A failed read is retried this far apart, for this long, while pcscd still sees a card.
const READ_RETRY_MS = 150;
const READ_RETRY_WINDOW_MS = 3_000;

export class PcscPort extends EventEmitter<CardPortEvents> implements CardPort {
  readonly kind = 'pcsc' as const;
  private nfc: Nfc | undefined;
  private readers = new Set<PcscReader>();
  private reader: PcscReader | undefined;
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
    nfc.on('reader', (reader: PcscReader) => {
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

  private wanted(reader: PcscReader): boolean {
    const name = this.options.readerName;
    return !name || reader.name.includes(name);
  }

  private attach(reader: PcscReader): void {
    if (this.reader || !this.wanted(reader)) return; // one reader per till
    // We drive the APDUs ourselves: nfc-pcsc's auto-processing cannot read ISO 14443-4 cards.
    reader.autoProcessing = false;
    this.reader = reader;
    this.restartDelay = RESTART_DELAY_MS;
    clearTimeout(this.orphanTimer);
    this.emit('ready', true, reader.name);
    reader.on('card', () => {
      void this.read(reader);
    });
  }

  private detach(): void {
    const reader = this.reader;
    if (!reader) return;
    reader.removeAllListeners('card');
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
  private async read(reader: PcscReader): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    const until = Date.now() + READ_RETRY_WINDOW_MS;
    let told = false;
    try {
      for (;;) {
        try {
          // nfc-pcsc throws (not rejects) when the card has gone: keep both inside the promise.
          const card = await readCard(async (apdu) => reader.transmit(apdu, MAX_RESPONSE));
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
  private async reconnect(reader: PcscReader): Promise<boolean> {
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

/** Closes a reader or context on the next turn of the event loop, not from inside its own event. */
function closeQuietly(closable: { close(): void } | undefined): void {
  if (!closable) return;
  setImmediate(() => {
    try {
      closable.close();
    } catch {
      // closing a dead context or reader throws; it is gone either way
    }
  });
}

/** Does pcscd accept connections on its socket? (A killed pcscd leaves the socket file behind.) */
export function pcscdListening(path = pcscdSocket()): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
