import type { Transmit } from '@kantine/card';
import { KantineError } from '@kantine/protocol';
import {
  cardTransmit,
  closeQuietly,
  loadNfcPcsc,
  type Nfc,
  type NfcReader,
  onCardLaid,
  onCardLifted,
  pcscdListening,
  readerWanted,
} from './nfc-pcsc.ts';

/**
 * IT's programming station (`kantine cards program`): a PC/SC reader on which cards are laid one
 * after another. The batch logic in provisioning sees a card as a transmit function.
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

export class PcscStation implements CardStation {
  private waiting: ((card: LaidCard) => void) | undefined;
  private removedWaiters: (() => void)[] = [];
  private laid: LaidCard | undefined;
  private present = false;

  private constructor(
    private readonly nfc: Nfc,
    private readonly reader: NfcReader,
  ) {
    onCardLaid(reader, (atr) => {
      this.present = true;
      const laid: LaidCard = { atr, transmit: cardTransmit(reader) };
      const waiter = this.waiting;
      this.waiting = undefined;
      if (waiter) waiter(laid);
      else this.laid = laid;
    });
    onCardLifted(reader, () => {
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
    const NFC = loadNfcPcsc();
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
      nfc.on('reader', (reader: NfcReader) => {
        if (!readerWanted(reader, opts.readerName)) {
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
