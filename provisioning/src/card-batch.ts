import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { type BatchMasterKeys, CardError, checkSunTap, Ntag424, personalizeCard, readCard } from '@kantine/card';
import { AES_KEY_HEX_PATTERN, BATCH_ID_PATTERN, KantineError } from '@kantine/protocol';
import type { CardStation } from '@kantine/reader/pcsc';
import { newCardNumber } from './card-number.ts';

/** A batch's keys file, made by `kantine cards new-batch`: keep it like a password. */
export interface BatchKeys extends BatchMasterKeys {
  batch: string;
}

export function newBatchKeys(batch: string, random: (n: number) => Buffer): BatchKeys {
  if (!new RegExp(BATCH_ID_PATTERN).test(batch)) {
    throw new KantineError('invalid_request', `batch id "${batch}": letters, digits and -, at most 32`);
  }
  return { batch, appMaster: random(16), sdmMaster: random(16) };
}

export function writeBatchKeys(path: string, keys: BatchKeys): void {
  const body = {
    batch: keys.batch,
    app_master: keys.appMaster.toString('hex'),
    sdm_master: keys.sdmMaster.toString('hex'),
  };
  // 'wx': never overwrite a batch's keys (the cards programmed with them would be lost).
  try {
    writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KantineError('invalid_request', `${path} exists: a keys file is never overwritten`);
    }
    throw err;
  }
}

export function readBatchKeys(path: string): BatchKeys {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KantineError('config_invalid', `cannot read the keys file ${path}: ${(err as Error).message}`);
  }
  const k = raw as { batch?: unknown; app_master?: unknown; sdm_master?: unknown };
  const hex16 = (v: unknown) => typeof v === 'string' && new RegExp(AES_KEY_HEX_PATTERN).test(v);
  if (
    typeof k.batch !== 'string' ||
    !new RegExp(BATCH_ID_PATTERN).test(k.batch) ||
    !hex16(k.app_master) ||
    !hex16(k.sdm_master)
  ) {
    throw new KantineError('config_invalid', `${path} is not a kantine keys file (batch, app_master, sdm_master)`);
  }
  return {
    batch: k.batch,
    appMaster: Buffer.from(k.app_master as string, 'hex'),
    sdmMaster: Buffer.from(k.sdm_master as string, 'hex'),
  };
}

export interface JournalCard {
  uid: string;
  card_number: string;
  at: string;
}

interface JournalHeader {
  kind: 'batch';
  batch: string;
  issuer: string;
  url_base: string;
  created_at: string;
}

/**
 * The batch's journal: one JSON line per card, written and flushed to disk once the card is
 * programmed and checked. A batch cut off (Ctrl-C, a crash, a full day) resumes from it; a card
 * programmed but not yet in the journal is recognised by its keys and added.
 */
export class BatchJournal {
  readonly cards: JournalCard[] = [];
  private readonly uids = new Set<string>();
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    readonly header: JournalHeader,
    private unwritten = false,
  ) {}

  static open(path: string, want: Omit<JournalHeader, 'kind' | 'created_at'>, now: Date): BatchJournal {
    if (!existsSync(path)) {
      // Written with the first card: a run that programs nothing leaves no file behind.
      return new BatchJournal(path, { kind: 'batch', ...want, created_at: now.toISOString() }, true);
    }
    const lines = readFileSync(path, 'utf8').split('\n');
    let header: JournalHeader | undefined;
    try {
      header = JSON.parse(lines[0] ?? '') as JournalHeader;
    } catch {
      // reported below
    }
    if (header?.kind !== 'batch') throw new KantineError('journal_mismatch', `${path} is not a batch journal`);
    for (const [field, value] of Object.entries(want)) {
      if (header[field as keyof JournalHeader] !== value) {
        throw new KantineError(
          'journal_mismatch',
          `${path} is batch ${header.batch}'s journal with ${field} ${String(header[field as keyof JournalHeader])}, not ${String(value)}`,
        );
      }
    }
    const journal = new BatchJournal(path, header);
    for (const [i, line] of lines.slice(1).entries()) {
      if (!line.trim()) continue;
      try {
        journal.remember(JSON.parse(line) as JournalCard);
      } catch {
        // Only the last line can be cut short (the PC lost power while writing it): that card
        // is recognised and written again when it is laid on the reader.
        if (i !== lines.length - 2) throw new KantineError('journal_mismatch', `${path} line ${i + 2} is damaged`);
      }
    }
    return journal;
  }

  has(uid: string): JournalCard | undefined {
    return this.uids.has(uid) ? this.cards.find((c) => c.uid === uid) : undefined;
  }

  add(card: JournalCard): void {
    if (this.fd === undefined) {
      this.fd = openSync(this.path, this.unwritten ? 'wx' : 'a');
      if (this.unwritten) writeSync(this.fd, `${JSON.stringify(this.header)}\n`);
      this.unwritten = false;
    }
    writeSync(this.fd, `${JSON.stringify(card)}\n`);
    fsyncSync(this.fd);
    this.remember(card);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private remember(card: JournalCard): void {
    this.cards.push(card);
    this.uids.add(card.uid);
  }
}

export type BatchEvent =
  | { type: 'waiting'; done: number; total: number }
  | {
      type: 'card';
      outcome: 'programmed' | 'recognised';
      uid: string;
      card_number: string;
      done: number;
      total: number;
    }
  | { type: 'already_done'; uid: string; card_number: string }
  | { type: 'rejected'; uid?: string; code: string; message: string }
  | { type: 'remove' };

export interface ProgramBatchOptions {
  station: CardStation;
  keys: BatchKeys;
  urlBase: string;
  journal: BatchJournal;
  issuer: string;
  count: number;
  onEvent: (e: BatchEvent) => void;
  now?: () => Date;
}

/**
 * Programs cards as IT lays them on the reader until the journal holds `count`: each card is
 * personalised (factory key → SUN template, SDM, its own diversified keys), then read back as a
 * till would and its SUN verified with the batch's key, then given a card number and journalled.
 */
export async function programBatch(o: ProgramBatchOptions): Promise<JournalCard[]> {
  const now = o.now ?? (() => new Date());
  while (o.journal.cards.length < o.count) {
    o.onEvent({ type: 'waiting', done: o.journal.cards.length, total: o.count });
    const laid = await o.station.nextCard();
    try {
      const result = await programOne(laid.transmit, o);
      if ('already' in result) {
        o.onEvent({ type: 'already_done', uid: result.already.uid, card_number: result.already.card_number });
      } else {
        const card: JournalCard = { uid: result.uid, card_number: newCardNumber(o.issuer), at: now().toISOString() };
        o.journal.add(card);
        o.onEvent({
          type: 'card',
          outcome: result.outcome,
          uid: card.uid,
          card_number: card.card_number,
          done: o.journal.cards.length,
          total: o.count,
        });
      }
    } catch (err) {
      o.onEvent({ type: 'rejected', ...describe(err) });
    }
    o.onEvent({ type: 'remove' });
    await o.station.cardRemoved();
  }
  return o.journal.cards;
}

async function programOne(
  transmit: (apdu: Buffer) => Promise<Buffer>,
  o: ProgramBatchOptions,
): Promise<{ uid: string; outcome: 'programmed' | 'recognised' } | { already: JournalCard }> {
  const host = new Ntag424(transmit);
  const uid = (await host.anticollisionUid()).toString('hex').toUpperCase();
  const known = o.journal.has(uid);
  if (known) return { already: known };
  if (uid.length !== 14) throw new KantineError('card_not_ntag424', `card ${uid} has a ${uid.length / 2}-byte UID`);
  let outcome: 'programmed' | 'recognised';
  try {
    const r = await personalizeCard(host, { batch: o.keys.batch, keys: o.keys, urlBase: o.urlBase });
    outcome = r.outcome === 'programmed' ? 'programmed' : 'recognised';
  } catch (err) {
    if (err instanceof CardError && /not ours/.test(err.message)) {
      throw new KantineError('card_not_blank', `card ${uid}: ${err.message}`);
    }
    if (err instanceof CardError && err.sw === 0x6a82) {
      throw new KantineError('card_not_ntag424', `card ${uid} has no NTAG 424 DNA application`);
    }
    throw err;
  }
  // Read it back as a till will, and check the SUN with the batch's key.
  const read = await readCard(transmit);
  if (read.kind !== 'ntag424' || read.uid !== uid || read.batch !== o.keys.batch) {
    throw new KantineError('card_check_failed', `card ${uid} does not show this batch's SUN URL when read`);
  }
  const check = checkSunTap({ sdmMaster: o.keys.sdmMaster, uid, picc: read.picc, mac: read.mac });
  if (check.result !== 'genuine') {
    throw new KantineError('card_check_failed', `card ${uid}'s SUN message is ${check.result}`);
  }
  return { uid, outcome };
}

function describe(err: unknown): { uid?: string; code: string; message: string } {
  if (err instanceof KantineError) return { code: err.code, message: err.message };
  // The card left the reader mid-way, or answered what a card should not: lay it on again.
  return {
    code: 'card_check_failed',
    message: `the card did not finish (${(err as Error).message}); lay it on again`,
  };
}

/** The print file: one line per card, in the order programmed, for the card printer. */
export function printFile(batch: string, cards: readonly JournalCard[]): string {
  const rows = cards.map((c, i) => `${batch};${i + 1};${c.card_number};${c.uid}`);
  return `parti;nr;kortnummer;uid\n${rows.join('\n')}\n`;
}
