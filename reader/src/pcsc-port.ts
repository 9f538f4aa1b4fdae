import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { CardPort, CardPortEvents } from './card-port.ts';
import type { EscapeChannel } from './feedback.ts';

/**
 * The only module that touches `nfc-pcsc` (and through it pcscd and the NFC hardware). The
 * library has had no release since 2021, so it stays behind this port.
 */

// The parts of nfc-pcsc we use (it ships no types).
interface PcscReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  close(): void;
}
interface PcscCard {
  atr?: Buffer;
}
interface Nfc extends EventEmitter {
  close(): void;
}
type NfcConstructor = new (logger?: unknown) => Nfc;

/** Loads nfc-pcsc, an optional dependency: it needs libpcsclite to build. */
export function loadNfcPcsc(): NfcConstructor | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require('nfc-pcsc') as { NFC: NfcConstructor }).NFC;
  } catch {
    return undefined;
  }
}

// PC/SC pseudo-APDU "get data: UID" (PC/SC part 3, §3.2.2.1.3); every contactless reader has it.
const GET_UID = Buffer.from([0xff, 0xca, 0x00, 0x00, 0x00]);
// After the PC/SC context dies (pcscd restarted), wait this long before building a new one, and
// never longer than the max: a reader that heals slowly is a queue at the till.
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 5_000;

export class PcscPort extends EventEmitter<CardPortEvents> implements CardPort {
  readonly kind = 'pcsc' as const;
  private nfc: Nfc | undefined;
  private reader: PcscReader | undefined;
  private stopped = true;
  private restartDelay = RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;

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

  /** The open reader's escape channel, for LED and buzzer feedback. */
  escape(): EscapeChannel | undefined {
    const reader = this.reader;
    return reader ? { transmit: (apdu) => reader.transmit(apdu, 2) } : undefined;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.close();
  }

  private open(): void {
    const nfc = new this.NFC();
    this.nfc = nfc;
    nfc.on('reader', (reader: PcscReader) => this.attach(reader));
    nfc.on('error', (err: Error) => {
      // A context we closed reports its own cancellation ("Command cancelled"): not a fault.
      if (this.nfc !== nfc) return;
      // A dead context (pcscd gone) never recovers by itself: build a new one.
      this.emit('error', err);
      this.scheduleRestart();
    });
  }

  private close(): void {
    const nfc = this.nfc;
    const reader = this.reader;
    this.nfc = undefined;
    this.detach();
    // nfc-pcsc's close() ends the context's monitor but not the readers' own status threads:
    // close the reader too, or it keeps the process alive and holds the reader.
    for (const closable of [reader, nfc]) {
      try {
        closable?.close();
      } catch {
        // closing a dead context or reader throws; it is gone either way
      }
    }
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    this.close();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.open();
    }, this.restartDelay);
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_DELAY_MAX_MS);
  }

  private attach(reader: PcscReader): void {
    const wanted = this.options.readerName;
    if (wanted && !reader.name.includes(wanted)) return;
    if (this.reader) return; // one reader per till
    // We drive the APDUs ourselves: nfc-pcsc's auto-processing cannot read ISO 14443-4 cards.
    reader.autoProcessing = false;
    this.reader = reader;
    this.restartDelay = RESTART_DELAY_MS;
    this.emit('ready', true, reader.name);
    reader.on('card', (card: PcscCard) => {
      void this.read(reader, card);
    });
    reader.on('error', (err: Error) => this.emit('error', err));
    reader.on('end', () => {
      if (this.reader === reader) this.detach();
    });
  }

  private detach(): void {
    if (!this.reader) return;
    this.reader.removeAllListeners();
    this.reader = undefined;
    this.emit('ready', false, undefined);
  }

  private async read(reader: PcscReader, _card: PcscCard): Promise<void> {
    try {
      const response = await reader.transmit(GET_UID, 12);
      const sw = response.subarray(-2).toString('hex');
      if (sw !== '9000' || response.length < 6) {
        throw new Error(`card answered GET UID with status ${sw}`);
      }
      const uid = response.subarray(0, -2).toString('hex').toUpperCase();
      this.emit('card', { kind: 'legacy', uid });
    } catch (err) {
      // A card pulled away mid-read gives no tap: the child taps again.
      this.emit('error', err as Error);
    }
  }
}
