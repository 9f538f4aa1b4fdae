import { EventEmitter } from 'node:events';
import type { MqttClient } from '@kantine/mqtt';
import {
  type CardRead,
  type Decision,
  Decision as DecisionSchema,
  decodePayload,
  ProtocolError,
  readerTopic,
  TAP_MAX_ATTEMPT,
  type Tap,
  type TapCancel,
} from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';

export type TapResult =
  | { kind: 'decision'; tap_id: string; decision: Decision }
  | { kind: 'no_answer'; tap_id: string }
  | { kind: 'error'; tap_id: string; code: string };

export interface TapTiming {
  answer_timeout_ms: number;
  resend_interval_ms: number;
}

interface Pending {
  tap: Tap;
  resolve: (r: TapResult) => void;
  resendTimer: NodeJS.Timeout;
  deadlineTimer: NodeJS.Timeout;
}

export interface TapClientEvents {
  /** A decision for a tap this reader had already given up on (it was decided before the cancel). */
  late: [decision: Decision];
  invalid: [topic: string, err: Error];
}

// A till serves one child at a time; more than a handful of open taps means something is stuck.
const MAX_PENDING_TAPS = 8;

/**
 * Sends taps and waits for their decisions. A tap id is made once, when the card is read; the
 * same tap is re-sent until a decision arrives or `answer_timeout_ms` runs out. Then a cancel
 * follows, so the gateway will never charge that tap later (unless it had already decided it, in
 * which case it answers the cancel with the stored decision).
 *
 * PUBACK proves nothing (the broker sends it before the gateway sees the tap): only a decision
 * ends a tap.
 */
export class TapClient extends EventEmitter<TapClientEvents> {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly mqtt: MqttClient,
    private readonly site: string,
    private readonly readerId: string,
    public timing: TapTiming,
  ) {
    super();
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  submit(card: CardRead, now = new Date()): Promise<TapResult> {
    if (this.pending.size >= MAX_PENDING_TAPS) {
      throw new Error(`more than ${MAX_PENDING_TAPS} taps are waiting for a decision`);
    }
    const tap: Tap = {
      v: 1,
      tap_id: uuidv7({ msecs: now.getTime() }),
      reader_id: this.readerId,
      card,
      read_at: now.toISOString(),
      attempt: 1,
    };
    const readAt = performance.now();
    return new Promise<TapResult>((resolve) => {
      const send = () => {
        // Each copy carries its age by this Pi's monotonic clock: the gateway declines a tap it
        // would decide after this reader gives up (`tap_stale`). So no copy may wait anywhere with
        // an old age: QoS 0 and nothing queued while disconnected (MQTT.js would re-send a stored
        // QoS 1 copy, age and all, after a reconnect); the re-send timer sends a fresh copy once
        // connected. The decision is the answer, not a PUBACK (design principle 1).
        if (!this.mqtt.connected) return;
        tap.age_ms = Math.round(performance.now() - readAt);
        this.mqtt.publish(readerTopic(this.site, this.readerId, 'tap'), JSON.stringify(tap), { qos: 0 });
      };
      const entry: Pending = {
        tap,
        resolve,
        resendTimer: setInterval(() => {
          tap.attempt = Math.min(tap.attempt + 1, TAP_MAX_ATTEMPT);
          send();
        }, this.timing.resend_interval_ms),
        deadlineTimer: setTimeout(() => this.giveUp(tap.tap_id), this.timing.answer_timeout_ms),
      };
      this.pending.set(tap.tap_id, entry);
      send();
    });
  }

  /** Feed every message from the reader's `decision` and `error` topics here. */
  handleMessage(topic: string, payload: Buffer): void {
    try {
      if (topic === readerTopic(this.site, this.readerId, 'decision')) {
        const decision = decodePayload(DecisionSchema, payload);
        if (!this.finish(decision.tap_id, { kind: 'decision', tap_id: decision.tap_id, decision })) {
          this.emit('late', decision);
        }
      } else if (topic === readerTopic(this.site, this.readerId, 'error')) {
        const err = decodePayload(ProtocolError, payload);
        if (err.tap_id) this.finish(err.tap_id, { kind: 'error', tap_id: err.tap_id, code: err.code });
      }
    } catch (err) {
      this.emit('invalid', topic, err as Error);
    }
  }

  /** Stops waiting for every open tap (reader shutting down); they count as unanswered. */
  close(): void {
    for (const tapId of [...this.pending.keys()]) this.giveUp(tapId);
  }

  private giveUp(tapId: string): void {
    const entry = this.pending.get(tapId);
    if (!entry) return;
    const cancel: TapCancel = { v: 1, tap_id: tapId, reader_id: this.readerId, reason: 'no_answer' };
    // Queued by MQTT.js if offline: the gateway must learn of it, or a late copy of the tap
    // could still be charged.
    this.mqtt.publish(readerTopic(this.site, this.readerId, 'cancel'), JSON.stringify(cancel), { qos: 1 });
    this.finish(tapId, { kind: 'no_answer', tap_id: tapId });
  }

  private finish(tapId: string, result: TapResult): boolean {
    const entry = this.pending.get(tapId);
    if (!entry) return false;
    clearInterval(entry.resendTimer);
    clearTimeout(entry.deadlineTimer);
    this.pending.delete(tapId);
    entry.resolve(result);
    return true;
  }
}
