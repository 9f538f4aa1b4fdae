/**
 * The link's timing on the site (gateway/src/link/central-link.ts), on a clock and timers of the
 * test's own, real SQLite. The periodic tick reads the ledger only once a silence is due; it must
 * still re-send what central has not acknowledged after one silence, and send a change written
 * without a flush within two. Central's changes are acknowledged `ack_delay_ms` after the first
 * applied, together; a change set aside at once.
 */
import { CentralLink, type CentralLinkOptions, defaultLinkOptions, Ledger, type Timers } from '@kantine/gateway';
import type { LinkUp } from '@kantine/protocol';
import test from 'ava';

const TICK_MS = 250;
const STEP_MS = 10;

function rig(opts: CentralLinkOptions = defaultLinkOptions) {
  let at = Date.parse('2026-12-07T10:00:00Z');
  const clock = { now: () => new Date(at) };
  const ledger = new Ledger(':memory:', clock);
  ledger.enableEscrow();
  const sent: LinkUp[] = [];
  let timers: { at: number; fn: () => void }[] = [];
  const fake: Timers = {
    setTimeout: (fn, ms) => {
      const timer = { at: at + ms, fn };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (h) => {
      timers = timers.filter((x) => x !== h);
    },
  };
  const link = new CentralLink(ledger, (m) => sent.push(m), clock, fake, opts);
  /** Time goes on by `ms`: timers fire when due, and the transport ticks every 250 ms. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += STEP_MS) {
      at += STEP_MS;
      for (const timer of timers.filter((x) => x.at <= at)) {
        timers = timers.filter((x) => x !== timer);
        timer.fn();
      }
      if ((t + STEP_MS) % TICK_MS === 0) link.tick();
    }
  };
  /** A change of the site's own in the outbox, as a sale's transaction leaves it. */
  const write = () => {
    const { up_seq } = ledger.db.prepare('UPDATE link_state SET up_seq = up_seq + 1 RETURNING up_seq').get() as {
      up_seq: number;
    };
    ledger.db
      .prepare('INSERT INTO outbox (seq, change) VALUES (?, ?)')
      .run(up_seq, JSON.stringify({ seq: up_seq, kind: 'note', mark: '0123456789abcdef' }));
    return up_seq;
  };
  const changesSent = () => sent.filter((m) => m.t === 'changes').flatMap((m) => m.changes.map((c) => c.seq));
  const acks = () => sent.filter((m) => m.t === 'ack');
  return { ledger, link, run, write, changesSent, acks, sent };
}

/** A rig whose link is connected and whose hello central answered. */
function linked(opts?: CentralLinkOptions) {
  const r = rig(opts);
  r.link.connected();
  r.link.receive({ v: 1, t: 'ack', up_cursor: 0 });
  return r;
}

test('a change central does not acknowledge is sent again after one silence, and again after the next', (t) => {
  const r = linked();
  const seq = r.write();
  r.link.flush();
  t.deepEqual(r.changesSent(), [seq]);
  r.run(defaultLinkOptions.retransmit_ms - TICK_MS);
  t.deepEqual(r.changesSent(), [seq], 'not before a silence');
  r.run(TICK_MS);
  t.deepEqual(r.changesSent(), [seq, seq], 'again after one');
  r.run(defaultLinkOptions.retransmit_ms);
  t.deepEqual(r.changesSent(), [seq, seq, seq]);
  // Acknowledged: nothing more is sent, however long it stays quiet.
  r.link.receive({ v: 1, t: 'ack', up_cursor: seq });
  r.run(10 * defaultLinkOptions.retransmit_ms);
  t.is(r.changesSent().length, 3);
  r.ledger.close();
});

test('a change written without a flush is still sent within a silence and a tick', (t) => {
  const r = linked();
  // Quiet for a while: the tick has looked and found nothing outstanding.
  r.run(5 * defaultLinkOptions.retransmit_ms);
  t.deepEqual(r.changesSent(), []);
  const seq = r.write(); // no flush after it
  r.run(defaultLinkOptions.retransmit_ms + TICK_MS);
  t.is(r.changesSent()[0], seq);
  r.ledger.close();
});

test('a site whose hello central never answered says it again each silence', (t) => {
  const r = rig();
  r.link.connected();
  const hellos = () => r.sent.filter((m) => m.t === 'hello').length;
  t.is(hellos(), 1);
  r.run(3 * defaultLinkOptions.retransmit_ms);
  t.is(hellos(), 4);
  r.link.receive({ v: 1, t: 'ack', up_cursor: 0 });
  r.run(3 * defaultLinkOptions.retransmit_ms);
  t.is(hellos(), 4, 'answered: no more');
  r.ledger.close();
});

const card = (seq: number, state: 'active' | 'blocked') => ({
  seq,
  mark: `${seq}`.padStart(16, '0'),
  kind: 'card',
  card: { uid: '04AABBCCDDEE01', account_id: null, state, kind: 'legacy', batch_id: null, sun_counter: 0 },
});

test("central's changes are acknowledged together, ack_delay_ms after the first applied", (t) => {
  const r = linked();
  r.link.receive({ v: 1, t: 'changes', changes: [card(1, 'active')] });
  t.is(r.ledger.accounts.getCard('04AABBCCDDEE01')?.state, 'active', 'applied at once');
  r.run(50);
  r.link.receive({ v: 1, t: 'changes', changes: [card(2, 'blocked')] });
  t.is(r.ledger.accounts.getCard('04AABBCCDDEE01')?.state, 'blocked');
  t.deepEqual(r.acks(), [], 'not yet');
  r.run(defaultLinkOptions.ack_delay_ms - 50);
  t.deepEqual(
    r.acks().map((m) => m.t === 'ack' && m.down_cursor),
    [2],
    'one ack for both, with the cursor as it is when sent',
  );
  r.run(5 * defaultLinkOptions.ack_delay_ms);
  t.is(r.acks().length, 1, 'nothing more to acknowledge');
  r.ledger.close();
});

test('a change set aside is acknowledged at once, and a lost connection drops the ack waiting', (t) => {
  const r = linked();
  r.link.receive({ v: 1, t: 'changes', changes: [{ seq: 1, kind: 'no_such_kind' }] });
  t.like(r.acks()[0], { down_cursor: 1, set_aside: [{ seq: 1, code: 'invalid_payload' }] });
  r.link.receive({ v: 1, t: 'changes', changes: [card(2, 'active')] });
  r.link.disconnected();
  r.run(5 * defaultLinkOptions.ack_delay_ms);
  t.is(r.acks().length, 1, 'offline: no ack');
  // Back: the hello says where the site stands.
  r.link.connected();
  t.like(r.sent.at(-1), { t: 'hello', down_cursor: 2 });
  r.ledger.close();
});

test('with ack_delay_ms 0 each message is acknowledged at once', (t) => {
  const r = linked({ ...defaultLinkOptions, ack_delay_ms: 0 });
  r.link.receive({ v: 1, t: 'changes', changes: [card(1, 'active')] });
  r.link.receive({ v: 1, t: 'changes', changes: [card(2, 'blocked')] });
  t.deepEqual(
    r.acks().map((m) => m.t === 'ack' && m.down_cursor),
    [1, 2],
  );
  r.ledger.close();
});

test('a message that moves nothing is acknowledged at once, with where the site stands', (t) => {
  const r = linked();
  r.link.receive({ v: 1, t: 'changes', changes: [card(1, 'active'), card(2, 'blocked')] });
  t.is(r.acks().length, 0, 'applied: its ack waits');
  // Central sends 2 again (its re-send, or a log restored from a backup reusing the number): a
  // duplicate says at once that this site is at 2 with its own mark — and the waiting ack goes with it.
  r.link.receive({ v: 1, t: 'changes', changes: [{ ...card(2, 'active'), mark: 'ffffffffffffffff' }] });
  t.like(r.acks(), [{ down_cursor: 2, down_mark: card(2, 'blocked').mark }]);
  t.is(r.ledger.accounts.getCard('04AABBCCDDEE01')?.state, 'blocked', 'the duplicate changed nothing');
  r.run(5 * defaultLinkOptions.ack_delay_ms);
  t.is(r.acks().length, 1, 'the waiting ack was that one');
  r.ledger.close();
});

test("a reset while an ack waits: the ack says the reset's standing", (t) => {
  const r = linked();
  r.link.receive({ v: 1, t: 'changes', changes: [card(1, 'active')] });
  // Central starts the site's log again (a resync): its reset, then the card as central has it.
  const reset = { seq: 40, mark: 'a'.repeat(16), kind: 'reset', up_cursor: 0, last_entry_id: null };
  r.link.receive({ v: 1, t: 'changes', changes: [reset, card(41, 'blocked')] });
  r.run(defaultLinkOptions.ack_delay_ms);
  t.like(r.acks(), [{ down_cursor: 41, down_mark: card(41, 'blocked').mark }]);
  t.is(r.ledger.accounts.getCard('04AABBCCDDEE01')?.state, 'blocked');
  r.ledger.close();
});
