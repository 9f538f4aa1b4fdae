/**
 * The link's periodic tick (gateway/src/link/central-link.ts) reads the ledger only once a silence
 * is due. What it must still do: re-send what central has not acknowledged after one silence, and
 * send a change that was written without a flush within two — on a clock of its own, real SQLite.
 */
import { CentralLink, defaultLinkOptions, Ledger, realTimers } from '@kantine/gateway';
import type { LinkUp } from '@kantine/protocol';
import test from 'ava';

const TICK_MS = 250;

function rig() {
  let at = Date.parse('2026-12-07T10:00:00Z');
  const clock = { now: () => new Date(at) };
  const ledger = new Ledger(':memory:', clock);
  ledger.enableEscrow();
  const sent: LinkUp[] = [];
  const link = new CentralLink(ledger, (m) => sent.push(m), clock, realTimers, defaultLinkOptions);
  /** Ticks as the transport does, every 250 ms, for `ms`. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += TICK_MS) {
      at += TICK_MS;
      link.tick();
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
  return { ledger, link, run, write, changesSent, sent };
}

test('a change central does not acknowledge is sent again after one silence, and again after the next', (t) => {
  const r = rig();
  r.link.connected();
  r.link.receive({ v: 1, t: 'ack', up_cursor: 0 }); // central heard the hello
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

test('a change written without a flush is still sent within two silences', (t) => {
  const r = rig();
  r.link.connected();
  r.link.receive({ v: 1, t: 'ack', up_cursor: 0 });
  // Quiet for a while: the tick has looked and found nothing outstanding.
  r.run(5 * defaultLinkOptions.retransmit_ms);
  t.deepEqual(r.changesSent(), []);
  const seq = r.write(); // no flush after it
  r.run(2 * defaultLinkOptions.retransmit_ms);
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
