import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import type { Transmit } from '@kantine/card';
import { type PcscCardReader, PcscLite, pcscLiteAvailable } from './pcsc-lite.ts';

/**
 * The only file that loads `nfc-pcsc`, and what both of its users share: the reader daemon's port
 * (port.ts) and IT's card-programming station (station.ts). The library has had no release since
 * 2021 and ships no types, so the parts we use are typed here, and it runs on our own PC/SC layer
 * (pcsc-lite.ts, the only caller of libpcsclite).
 */

/** The parts of an nfc-pcsc reader we use. */
export interface NfcReader extends EventEmitter {
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

/** One PC/SC context: `reader` for each reader ({@link NfcReader}), `error` when pcscd is lost. */
export interface Nfc extends EventEmitter {
  close(): void;
}
export type NfcConstructor = new (logger?: unknown) => Nfc;
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

// pcscd's client socket (pcsc-lite's default; PCSCLITE_CSOCK_NAME moves it, as for libpcsclite,
// which reads it when the first context is made).
export const pcscdSocket = (): string => process.env.PCSCLITE_CSOCK_NAME || '/run/pcscd/pcscd.comm';

/**
 * Does pcscd accept connections on its socket? (A killed pcscd leaves the socket file behind.)
 * Asked before a context is made: libpcsclite blocks the whole process while pcscd is down.
 */
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

/**
 * Closes a reader or context on the next turn of the event loop, not from inside its own event.
 * An unclosed one keeps its status thread polling (a dead handle) and the process alive.
 */
export function closeQuietly(closable: { close(): void } | undefined): void {
  if (!closable) return;
  setImmediate(() => {
    try {
      closable.close();
    } catch {
      // closing a dead context or reader throws; it is gone either way
    }
  });
}

/** Is this the reader asked for: its name contains `name` (any reader, if no name is given)? */
export const readerWanted = (reader: NfcReader, name: string | undefined): boolean =>
  !name || reader.name.includes(name);

/**
 * Calls `laid` with the card's ATR each time a card is laid on the reader, once it is connected and
 * ready for our APDUs (nfc-pcsc's auto-processing, switched off here, cannot read ISO 14443-4
 * cards). Returns the function that stops listening.
 */
export function onCardLaid(reader: NfcReader, laid: (atr: Buffer) => void): () => void {
  reader.autoProcessing = false;
  const listener = (card: { atr?: Buffer }) => laid(card.atr ?? Buffer.alloc(0));
  reader.on('card', listener);
  return () => reader.removeListener('card', listener);
}

/** Calls `lifted` each time a card nfc-pcsc reported leaves the reader. */
export function onCardLifted(reader: NfcReader, lifted: () => void): void {
  reader.on('card.off', lifted);
}

// The longest answer we read: a short APDU's 256 bytes and the status word.
const MAX_RESPONSE = 258;

/** The card on the reader as a transmit function, for @kantine/card's reads and writes. */
export function cardTransmit(reader: NfcReader): Transmit {
  // nfc-pcsc throws (not rejects) when the card has gone: keep both inside the promise.
  return async (apdu) => reader.transmit(apdu, MAX_RESPONSE);
}
