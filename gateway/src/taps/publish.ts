import { type Decision, type ErrorCode, type ProtocolError, readerTopic } from '@kantine/protocol';
import type { MessageBus } from '../broker/bus.ts';

/** The last step of the tap path: answers to readers, only ever after the commit. */
export class ReaderReplies {
  constructor(
    private readonly bus: MessageBus,
    private readonly site: string,
  ) {}

  /**
   * A decision, to the reader that asked (QoS 1: the reader waits for it). `json`: the decision
   * already serialised (as the ledger stored it), so it is not serialised twice.
   */
  decision(d: Decision, json = JSON.stringify(d)): void {
    this.bus.publish(readerTopic(this.site, d.reader_id, 'decision'), json, { qos: 1 });
  }

  /** Tells a reader its message was refused or could not be decided (nothing changed). */
  error(
    readerId: string,
    topic: string,
    code: ErrorCode,
    message: string,
    tapId?: string,
    details: readonly string[] = [],
  ): void {
    const error: ProtocolError = {
      v: 1,
      code,
      message,
      topic,
      ...(tapId ? { tap_id: tapId } : {}),
      details: [...details],
    };
    this.bus.publish(readerTopic(this.site, readerId, 'error'), JSON.stringify(error), { qos: 0 });
  }
}
