import { EventEmitter } from 'node:events';
import {
  BALANCE_BUDGET,
  type DeclineCode,
  type LinkDown,
  type LinkUp,
  MAX_CHANGES_PER_MESSAGE,
  parseBudget,
} from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from './clock.ts';
import type { EscrowTurn, Ledger } from './ledger.ts';
import type { BudgetNeed, Replica } from './replica.ts';

/** Timers, injected: the simulation runs the link on its own clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface CentralLinkOptions {
  /** How long a tap may wait for central to grant more shares (the reader waits 3 s in all). */
  ask_budget_ms: number;
  /** Pause before asking again after central recalled shares from other sites. */
  ask_retry_ms: number;
  /** Unacknowledged changes are sent again after this long. */
  retransmit_ms: number;
}
export const defaultLinkOptions: CentralLinkOptions = { ask_budget_ms: 1_000, ask_retry_ms: 20, retransmit_ms: 1_000 };

// At most this many changes are sent ahead of central's acknowledgement (a bound on what one
// reconnect puts on the wire; the rest follows the acks).
const MAX_IN_FLIGHT = 5 * MAX_CHANGES_PER_MESSAGE;

export interface CentralLinkEvents {
  state: [online: boolean];
  /** Central's changes were applied: the cursor moved to here. */
  applied: [cursor: number];
}

const limitCode = { day: 'limit_exceeded_day', week: 'limit_exceeded_week', month: 'limit_exceeded_month' } as const;

/**
 * The gateway's end of the link (docs/replication.md). The transport (MQTT, or the simulation's
 * network) calls `connected`, `disconnected` and `receive`; the link sends through `send`.
 * Sales never wait for the link: they commit with their outbox row, and `flush` sends.
 */
export class CentralLink extends EventEmitter<CentralLinkEvents> {
  online = false;
  private readonly replica: Replica;
  private sentThrough = 0;
  private lastHelloAt = Number.NEGATIVE_INFINITY;
  // When central's acknowledgement last moved (or we last re-sent): a silence is measured from here.
  private progressAt = 0;
  private lastAcked = 0;
  private lastGapResendAt = Number.NEGATIVE_INFINITY;
  private readonly answers = new Map<string, (answer: Extract<LinkDown, { t: 'answer' }>) => void>();
  private cursorWaiters: { through: number; resolve: () => void }[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly send: (msg: LinkUp) => void,
    private readonly clock: Clock,
    private readonly timers: Timers = realTimers,
    private readonly opts: CentralLinkOptions = defaultLinkOptions,
  ) {
    super();
    this.replica = ledger.enableLink();
  }

  /** Changes made here that central has not yet acknowledged. */
  get backlog(): number {
    const { up_seq, up_acked } = this.replica.state();
    return up_seq - up_acked;
  }

  connected(): void {
    this.online = true;
    const st = this.replica.state();
    this.send({ v: 1, t: 'hello', down_cursor: st.down_cursor, up_seq: st.up_seq });
    this.sentThrough = st.up_acked;
    this.lastAcked = st.up_acked;
    this.progressAt = this.clock.now().getTime();
    this.flush();
    this.emit('state', true);
  }

  disconnected(): void {
    if (!this.online) return;
    this.online = false;
    this.emit('state', false);
  }

  /** Sends outbox rows not yet sent (after a sale's commit, a recall, a reconnect). */
  flush(): void {
    if (!this.online) return;
    const { up_acked } = this.replica.state();
    if (this.sentThrough < up_acked) this.sentThrough = up_acked;
    const room = MAX_IN_FLIGHT - (this.sentThrough - up_acked);
    if (room <= 0) return;
    const changes = this.replica.outbox(this.sentThrough, room);
    // Nothing was outstanding: the silence before a re-send starts now.
    if (changes.length > 0 && this.sentThrough === up_acked) this.progressAt = this.clock.now().getTime();
    for (let i = 0; i < changes.length; i += MAX_CHANGES_PER_MESSAGE) {
      this.send({ v: 1, t: 'changes', changes: changes.slice(i, i + MAX_CHANGES_PER_MESSAGE) });
    }
    const last = changes.at(-1);
    if (last) this.sentThrough = last.seq;
  }

  /**
   * Periodic: send again what central has not acknowledged for a while. The silence is counted
   * from central's last progress, not our last send: under a steady stream of sales a lost
   * message would otherwise never be re-sent.
   */
  tick(): void {
    if (!this.online) return;
    const { up_acked, up_seq } = this.replica.state();
    const now = this.clock.now().getTime();
    if (up_seq > up_acked && now - this.progressAt >= this.opts.retransmit_ms) this.resendFromAck(now);
  }

  private resendFromAck(now: number): void {
    this.progressAt = now;
    this.sentThrough = this.replica.state().up_acked;
    this.flush();
  }

  /** A message from central (validated by the transport). */
  receive(msg: LinkDown): void {
    switch (msg.t) {
      case 'changes': {
        const before = this.replica.state().down_cursor;
        const cursor = this.ledger.transaction(() => this.replica.applyDown(msg.changes));
        this.send({ v: 1, t: 'ack', down_cursor: cursor });
        // Changes beyond a gap: ask central to re-send from our cursor (at most every retransmit).
        const now = this.clock.now().getTime();
        if (msg.changes.some((c) => c.seq > cursor) && now - this.lastHelloAt >= this.opts.retransmit_ms / 4) {
          this.lastHelloAt = now;
          this.send({ v: 1, t: 'hello', down_cursor: cursor, up_seq: this.replica.state().up_seq });
        }
        if (cursor > before) {
          this.emit('applied', cursor);
          const ready = this.cursorWaiters.filter((w) => w.through <= cursor);
          this.cursorWaiters = this.cursorWaiters.filter((w) => w.through > cursor);
          for (const w of ready) w.resolve();
          this.flush(); // a recall leaves a return in the outbox
        }
        return;
      }
      case 'ack': {
        this.ledger.transaction(() => this.replica.upAcked(msg.up_cursor));
        const now = this.clock.now().getTime();
        const acked = this.replica.state().up_acked;
        if (acked > this.lastAcked) {
          this.lastAcked = acked;
          this.progressAt = now;
        }
        // Central stopped at a gap: re-send from its cursor (at most every quarter retransmit).
        if (msg.gap && now - this.lastGapResendAt >= this.opts.retransmit_ms / 4) {
          this.lastGapResendAt = now;
          this.resendFromAck(now);
        } else {
          this.flush();
        }
        return;
      }
      case 'answer':
        this.answers.get(msg.ask_id)?.(msg);
        return;
    }
  }

  /**
   * Asks central for the shares a tap lacks, within the tap's time budget. Returns how the tap
   * is then to be decided.
   */
  async ask(accountId: string, needs: readonly BudgetNeed[]): Promise<EscrowTurn> {
    const deadline = this.clock.now().getTime() + this.opts.ask_budget_ms;
    const left = () => deadline - this.clock.now().getTime();
    while (this.online && left() > 0) {
      const askId = uuidv7();
      this.send({ v: 1, t: 'ask', ask_id: askId, account_id: accountId, needs: [...needs] });
      const answer = await this.within<Extract<LinkDown, { t: 'answer' }>>(left(), (resolve) =>
        this.answers.set(askId, resolve),
      );
      this.answers.delete(askId);
      if (!answer) break;
      if (answer.result === 'refused') return { mayAsk: false, refused: refusedCode(answer.budget) };
      if (answer.result === 'granted') {
        const through = answer.through_seq ?? 0;
        if (this.replica.state().down_cursor < through) {
          await this.within<true>(left(), (resolve) =>
            this.cursorWaiters.push({ through, resolve: () => resolve(true) }),
          );
        }
        return { mayAsk: false };
      }
      await this.within(Math.min(this.opts.ask_retry_ms, left()), () => {});
    }
    return { mayAsk: false };
  }

  /** Resolves with what `start` delivers, or undefined after `ms`. */
  private within<T>(ms: number, start: (resolve: (v: T) => void) => void): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => resolve(undefined), Math.max(0, ms));
      start((v) => {
        this.timers.clearTimeout(timer);
        resolve(v);
      });
    });
  }
}

/** Central refused: the account lacks this budget. */
function refusedCode(budget: string | undefined): DeclineCode {
  if (!budget || budget === BALANCE_BUDGET) return 'insufficient_funds';
  const p = parseBudget(budget);
  return p ? limitCode[p.period] : 'insufficient_funds';
}
