import { EventEmitter } from 'node:events';
import {
  BALANCE_BUDGET,
  type DeclineCode,
  type LinkDown,
  type LinkDownWire,
  type LinkUp,
  MAX_CHANGES_PER_MESSAGE,
  packChanges,
  parseBudget,
} from '@kantine/protocol';
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../clock.ts';
import type { BudgetNeed } from '../ledger/escrow.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { type LinkState, Replica, type SetAside } from './replica.ts';

/** How a tap on a linked site may use central: ask for more shares, or decide with what it has. */
export interface EscrowTurn {
  mayAsk: boolean;
  /** Central refused the shares: decline with this code (what the account lacks). */
  refused?: DeclineCode;
}

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
  /**
   * Central's messages are acknowledged this long after the first since the last ack, all in one
   * ack (0: each at once). A change is durable when applied, whatever its ack; the ack only lets
   * central drop it from the log. A fan-out's acks then reach central as one wave, which it books
   * in a few large transactions, and a burst of messages to one site (a resync, a rush of
   * deposits) takes one ack per delay, not one per message. 250 ms: on the 2-core bench a
   * change reaches a thousand sites in ~150–170 ms at p50, so their acks come after central's
   * fan-out, not in the middle of it (docs/benchmarks.md). Central re-sends what is not
   * acknowledged 1 s after it wrote it: the slowest site's fan-out, this delay and central's
   * booking of the ack must stay within that, or every slow site is sent the change again
   * (counted: `kantine_central_link_resent_changes_total{why="silence"}`). A message that moved
   * nothing here (only changes already applied, or after a gap) and one with a change set aside
   * are acknowledged at once: the first says where this site stands while central may be
   * comparing it with a log restored from a backup.
   */
  ack_delay_ms: number;
}
export const defaultLinkOptions: CentralLinkOptions = {
  ask_budget_ms: 1_000,
  ask_retry_ms: 20,
  retransmit_ms: 1_000,
  ack_delay_ms: 250,
};

// At most this many changes are sent ahead of central's acknowledgement (a bound on what one
// reconnect puts on the wire; the rest follows the acks).
const MAX_IN_FLIGHT = 5 * MAX_CHANGES_PER_MESSAGE;

export interface CentralLinkEvents {
  state: [online: boolean];
  /** Central's changes were applied: the cursor moved to here. */
  applied: [cursor: number];
  /** Changes from central this site could not apply were set aside (the alarm's event). */
  setAside: [changes: SetAside[]];
  /** Central started its log for this site again (it was restored from a backup): a resync. */
  resync: [];
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
  // When central's acknowledgement last moved, we last re-sent, or the tick last looked and found
  // nothing outstanding: a silence is measured from here.
  private progressAt = 0;
  private lastAcked = 0;
  private lastGapResendAt = Number.NEGATIVE_INFINITY;
  // Whether central answered since we connected: until it does, the hello is said again (a lost
  // hello would leave a restored central unaware that this site is ahead of it).
  private heard = false;
  // A delayed ack waiting (`ack_delay_ms`).
  private ackTimer: unknown;
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
    // Escrow is switched on where the site is wired (`ledger.enableEscrow()`), not here.
    const escrow = ledger.escrow;
    if (!escrow) throw new Error('CentralLink: the ledger sells without escrow; call ledger.enableEscrow() first');
    this.replica = new Replica(ledger, escrow);
  }

  /** Changes made here that central has not yet acknowledged. */
  get backlog(): number {
    const { up_seq, up_acked } = this.replica.state();
    return up_seq - up_acked;
  }

  /**
   * Where this site stands, for central to compare with its record (docs/replication.md §Restore):
   * the mark of the last change of central's applied here, and how far central acknowledged ours.
   */
  private standing(st: LinkState = this.replica.state()): { down_mark?: string; up_acked: number } {
    return { ...(st.down_mark ? { down_mark: st.down_mark } : {}), up_acked: st.up_acked };
  }

  private hello(): void {
    const st = this.replica.state();
    this.send({ v: 1, t: 'hello', down_cursor: st.down_cursor, up_seq: st.up_seq, ...this.standing() });
  }

  connected(): void {
    this.online = true;
    this.heard = false;
    const st = this.replica.state();
    this.lastHelloAt = this.clock.now().getTime();
    this.hello();
    this.sentThrough = st.up_acked;
    this.lastAcked = st.up_acked;
    this.progressAt = this.clock.now().getTime();
    this.flush();
    this.emit('state', true);
  }

  disconnected(): void {
    if (!this.online) return;
    this.online = false;
    // Nothing to acknowledge into: the hello of the next connection says where this site stands.
    this.cancelAck();
    this.emit('state', false);
  }

  /**
   * Sends outbox rows not yet sent (after a sale's commit, a recall, a reconnect). `st`: the link's
   * state as just read, when the caller has it (a read outside a transaction is a transaction).
   */
  flush(st: LinkState = this.replica.state()): void {
    if (!this.online) return;
    const { up_acked } = st;
    if (this.sentThrough < up_acked) this.sentThrough = up_acked;
    // Everything made here is on its way already: no need to look in the outbox.
    if (this.sentThrough >= st.up_seq) return;
    const room = MAX_IN_FLIGHT - (this.sentThrough - up_acked);
    if (room <= 0) return;
    const changes = this.replica.outbox(this.sentThrough, room);
    // Nothing was outstanding: the silence before a re-send starts now.
    if (changes.length > 0 && this.sentThrough === up_acked) this.progressAt = this.clock.now().getTime();
    // Packed by bytes as well as by count: 200 sales of 50 lines each would not fit 1 MiB. One
    // sale alone is far below it by schema, so nothing is ever too large to send.
    const at = { down_cursor: st.down_cursor, ...this.standing(st) };
    for (const list of packChanges(changes, (change) => change))
      this.send({ v: 1, t: 'changes', changes: list, ...at });
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
    const now = this.clock.now().getTime();
    if (!this.heard && now - this.lastHelloAt >= this.opts.retransmit_ms) {
      this.lastHelloAt = now;
      this.hello();
    }
    // The ledger is read only once a silence is due (every tick, a thousand sites in one process
    // spent a tenth of their time reading it): when nothing is outstanding, the next look is one
    // silence later — a change made and not flushed is still sent within a silence and a tick.
    if (now - this.progressAt < this.opts.retransmit_ms) return;
    const { up_acked, up_seq } = this.replica.state();
    if (up_seq > up_acked) this.resendFromAck(now);
    else this.progressAt = now;
  }

  /** Acknowledges central's changes up to this site's cursor, with where it stands. */
  private ack(st: LinkState, setAside: readonly SetAside[] = []): void {
    this.send({
      v: 1,
      t: 'ack',
      down_cursor: st.down_cursor,
      ...this.standing(st),
      ...(setAside.length > 0 ? { set_aside: setAside.map(({ seq, code }) => ({ seq, code })) } : {}),
    });
  }

  private cancelAck(): void {
    if (this.ackTimer === undefined) return;
    this.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private resendFromAck(now: number): void {
    this.progressAt = now;
    this.sentThrough = this.replica.state().up_acked;
    this.flush();
  }

  /** How many of central's changes this site has set aside, ever (the kiosk's badge, metrics). */
  get setAsideCount(): number {
    return this.replica.setAsideCount();
  }

  /**
   * A message from central (its envelope validated by the transport; each change is checked when
   * applied, so one this site cannot take is set aside rather than refusing the message).
   */
  receive(msg: LinkDownWire): void {
    this.heard = true;
    switch (msg.t) {
      case 'changes': {
        const nowIso = this.clock.now().toISOString();
        // The link's state read once, inside the transaction (outside it a read is a transaction
        // of its own): for the ack and for the flush after.
        const { before, cursor, setAside, reset, st } = this.ledger.transaction(() => ({
          ...this.replica.applyDown(msg.changes, nowIso),
          st: this.replica.state(),
        }));
        // At once: changes set aside (central's alarm), and a message that moved nothing (only
        // duplicates: after a restore of central, the standing they are answered with is what
        // shows central that this site followed a log it lost). The rest after `ack_delay_ms`.
        if (setAside.length > 0 || this.opts.ack_delay_ms <= 0 || (cursor === before && !reset)) {
          this.cancelAck();
          this.ack(st, setAside);
        } else if (this.ackTimer === undefined) {
          this.ackTimer = this.timers.setTimeout(() => {
            this.ackTimer = undefined;
            // Gone offline meanwhile, or the ledger closed (the gateway stopping): nothing to say.
            if (!this.online || !this.ledger.db.open) return;
            try {
              this.ack(this.replica.state());
            } catch {
              // The ledger failing to read: no ack now; central re-sends, and that is answered.
            }
          }, this.opts.ack_delay_ms);
        }
        if (reset) this.emit('resync');
        if (setAside.length > 0) this.emit('setAside', setAside);
        // Changes beyond a gap: ask central to re-send from our cursor (at most every retransmit).
        const now = this.clock.now().getTime();
        if (msg.changes.some((c) => c.seq > cursor) && now - this.lastHelloAt >= this.opts.retransmit_ms / 4) {
          this.lastHelloAt = now;
          this.hello();
        }
        if (cursor !== before || reset) {
          this.flush(st); // a recall leaves a return in the outbox
          this.emit('applied', cursor);
          const ready = this.cursorWaiters.filter((w) => w.through <= cursor);
          this.cursorWaiters = this.cursorWaiters.filter((w) => w.through > cursor);
          for (const w of ready) w.resolve();
        }
        return;
      }
      case 'ack': {
        const st = this.ledger.transaction(() => {
          this.replica.upAcked(msg.up_cursor);
          return this.replica.state();
        });
        const now = this.clock.now().getTime();
        const acked = st.up_acked;
        if (acked > this.lastAcked) {
          this.lastAcked = acked;
          this.progressAt = now;
        }
        // Central acknowledges less than it did: it was restored from an older backup. Saying
        // where this site stands makes it resync the link (at most every quarter retransmit).
        if (msg.up_cursor < acked && now - this.lastHelloAt >= this.opts.retransmit_ms / 4) {
          this.lastHelloAt = now;
          this.hello();
          return;
        }
        // Central stopped at a gap: re-send from its cursor (at most every quarter retransmit).
        if (msg.gap && now - this.lastGapResendAt >= this.opts.retransmit_ms / 4) {
          this.lastGapResendAt = now;
          this.resendFromAck(now);
        } else {
          this.flush(st);
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
