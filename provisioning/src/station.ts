import type { EventEmitter } from 'node:events';
import type { Transmit } from '@kantine/card';
import { KantineError } from '@kantine/protocol';
import { loadNfcPcsc, pcscdListening } from '@kantine/reader';

/**
 * IT's programming station: a PC/SC reader on which cards are laid one after another. Only this
 * module touches nfc-pcsc for provisioning; the batch logic sees a card as a transmit function.
 */
export interface LaidCard {
  atr: Buffer;
  transmit: Transmit;
}

export interface CardStation {
  readonly readerName: string;
  /** The next card laid on the reader (one already lying there counts once). */
  nextCard(): Promise<LaidCard>;
  /** Resolves once no card lies on the reader. */
  cardRemoved(): Promise<void>;
  close(): void;
}

// The parts of nfc-pcsc used here (it ships no types).
interface PcscReader extends EventEmitter {
  name: string;
  autoProcessing: boolean;
  card: unknown;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  close(): void;
}
interface Nfc extends EventEmitter {
  close(): void;
}

const MAX_RESPONSE = 258;

export class PcscStation implements CardStation {
  private waiting: ((card: LaidCard) => void) | undefined;
  private removedWaiters: (() => void)[] = [];
  private laid: LaidCard | undefined;
  private present = false;

  private constructor(
    private readonly nfc: Nfc,
    private readonly reader: PcscReader,
  ) {
    reader.autoProcessing = false;
    reader.on('card', (card: { atr?: Buffer }) => {
      this.present = true;
      const laid: LaidCard = {
        atr: card.atr ?? Buffer.alloc(0),
        // nfc-pcsc throws (not rejects) when the card has gone: keep both inside the promise.
        transmit: async (apdu) => reader.transmit(apdu, MAX_RESPONSE),
      };
      const waiter = this.waiting;
      this.waiting = undefined;
      if (waiter) waiter(laid);
      else this.laid = laid;
    });
    reader.on('card.off', () => {
      this.present = false;
      this.laid = undefined;
      for (const w of this.removedWaiters.splice(0)) w();
    });
    // A reader error mid-card is the card leaving early; the batch loop reports it per card.
    reader.on('error', () => undefined);
    nfc.on('error', () => undefined);
  }

  get readerName(): string {
    return this.reader.name;
  }

  /** Opens the first PC/SC reader whose name contains `readerName` (any, if not given). */
  static async open(opts: { readerName?: string; timeoutMs?: number } = {}): Promise<PcscStation> {
    const NFC = loadNfcPcsc() as (new () => Nfc) | undefined;
    if (!NFC)
      throw new KantineError('no_card_reader', 'nfc-pcsc is not installed (install libpcsclite-dev, then npm ci)');
    // libpcsclite blocks the whole process while pcscd is down: ask its socket first.
    if (!(await pcscdListening())) throw new KantineError('no_card_reader', 'pcscd is not running');
    const nfc = new NFC();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        closeQuietly(nfc);
        reject(
          new KantineError(
            'no_card_reader',
            opts.readerName ? `no PC/SC reader named like "${opts.readerName}"` : 'no PC/SC reader found',
          ),
        );
      }, opts.timeoutMs ?? 10_000);
      nfc.on('reader', (reader: PcscReader) => {
        if (opts.readerName && !reader.name.includes(opts.readerName)) {
          closeQuietly(reader);
          return;
        }
        clearTimeout(timer);
        resolve(new PcscStation(nfc, reader));
      });
    });
  }

  nextCard(): Promise<LaidCard> {
    const laid = this.laid;
    if (laid) {
      this.laid = undefined;
      return Promise.resolve(laid);
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  cardRemoved(): Promise<void> {
    if (!this.present) return Promise.resolve();
    return new Promise((resolve) => this.removedWaiters.push(resolve));
  }

  close(): void {
    closeQuietly(this.reader);
    closeQuietly(this.nfc);
  }
}

/** Closes on the next turn of the event loop (not from inside nfc-pcsc's own event). */
function closeQuietly(closable: { close(): void }): void {
  setImmediate(() => {
    try {
      closable.close();
    } catch {
      // already closed
    }
  });
}
