import {
  allReadersTopic,
  codes,
  decodePayload,
  type ErrorCode,
  KantineError,
  parseReaderTopic,
  peekTapId,
  ReaderStatus,
  Tap,
  TapCancel,
} from '@kantine/protocol';
import type { Logger } from 'pino';
import type { MessageBus } from '../broker/bus.ts';
import type { ReaderRow } from '../ledger/readers.ts';
import type { TapProcessor } from './processor.ts';
import { ReaderReplies } from './publish.ts';

/** A message from a reader refused before it reached the ledger. */
export interface Rejected {
  topic: string;
  code: ErrorCode;
  tap_id?: string | undefined;
  details: readonly string[];
}

export interface IntakeOptions {
  bus: MessageBus;
  site: string;
  log: Logger;
  processor: TapProcessor;
  /** The reader of this id that may send (known and not revoked), or undefined. */
  reader: (id: string) => ReaderRow | undefined;
  /** A reader's status report, admitted. */
  onStatus: (status: ReaderStatus) => void;
  onRejected: (rejected: Rejected) => void;
}

/**
 * The first step of the tap path: every message from a reader is decoded and checked (its topic,
 * its reader, the reader's till) before it goes to the processor. A refused message is answered
 * here, on the reader's error topic; nothing reaches the ledger.
 */
export class Intake {
  private readonly replies: ReaderReplies;

  constructor(private readonly o: IntakeOptions) {
    this.replies = new ReaderReplies(o.bus, o.site);
  }

  /** Subscribes to the readers' taps, cancels and status reports. */
  async listen(): Promise<void> {
    const { bus, site } = this.o;
    await bus.subscribe(allReadersTopic(site, 'tap'), (topic, payload) => this.onTap(topic, payload));
    await bus.subscribe(allReadersTopic(site, 'cancel'), (topic, payload) => this.onCancel(topic, payload));
    await bus.subscribe(allReadersTopic(site, 'status'), (topic, payload) => this.onStatus(topic, payload));
  }

  private reject(readerId: string, topic: string, err: unknown, payload: Buffer): void {
    const kerr = err instanceof KantineError ? err : new KantineError('internal_error', String(err));
    const code: ErrorCode = codes[kerr.code].kind === 'error' ? (kerr.code as ErrorCode) : 'internal_error';
    const tapId = peekTapId(payload);
    this.o.log.warn({ topic, code, tap_id: tapId, details: kerr.details }, 'refused a message from a reader');
    this.replies.error(readerId, topic, code, kerr.message, tapId, kerr.details);
    this.o.onRejected({ topic, code, tap_id: tapId, details: kerr.details });
  }

  /** The checks every reader message passes before the ledger sees it. Returns the till. */
  private admit(topic: string, payloadReaderId: string, requireTill: boolean): string | null {
    const t = parseReaderTopic(topic);
    if (!t || t.site !== this.o.site) throw new KantineError('topic_not_allowed', `not a reader topic: ${topic}`);
    if (payloadReaderId !== t.reader) {
      throw new KantineError('reader_mismatch', `payload names reader ${payloadReaderId}, topic ${t.reader}`);
    }
    const reader = this.o.reader(t.reader);
    if (!reader) throw new KantineError('unknown_reader', `no reader ${t.reader}`);
    if (requireTill && !reader.till_id) throw new KantineError('reader_not_assigned');
    return reader.till_id;
  }

  private onTap(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const tap = decodePayload(Tap, payload);
      this.o.log.debug({ tap_id: tap.tap_id, reader_id: tap.reader_id, attempt: tap.attempt }, 'tap received');
      const tillId = this.admit(topic, tap.reader_id, true) as string;
      this.o.processor.enqueue({ kind: 'tap', tap, till_id: tillId });
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }

  private onCancel(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const cancel = decodePayload(TapCancel, payload);
      const tillId = this.admit(topic, cancel.reader_id, false);
      this.o.processor.enqueue({ kind: 'cancel', cancel, till_id: tillId });
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }

  private onStatus(topic: string, payload: Buffer): void {
    const readerId = parseReaderTopic(topic)?.reader ?? '';
    try {
      const status = decodePayload(ReaderStatus, payload);
      this.admit(topic, status.reader_id, false);
      this.o.onStatus(status);
    } catch (err) {
      this.reject(readerId, topic, err, payload);
    }
  }
}
