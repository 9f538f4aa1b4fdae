import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, type MessageBus, TapProcessor } from '@kantine/gateway';
import type { Decision, ProtocolError } from '@kantine/protocol';
import test from 'ava';
import { cards, makeTap, purchaseCount, seedFixture, silent } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

/** A bus that records what the processor publishes (the broker is not what is tested here). */
class RecordingBus implements MessageBus {
  readonly published: { topic: string; payload: unknown }[] = [];
  async subscribe(): Promise<void> {}
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  publish(topic: string, payload: string | Buffer): void {
    this.published.push({ topic, payload: JSON.parse(payload.toString()) });
  }
}

function setup(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-gc-'));
  const ledger = new Ledger(join(dir, 'l.db'), { now: () => new Date() });
  t.teardown(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  seedFixture(ledger);
  const bus = new RecordingBus();
  const processor = new TapProcessor(ledger, bus, 'testskolen', 256, silent);
  const batches: number[] = [];
  processor.on('batch', (n) => batches.push(n));
  return { ledger, bus, processor, batches };
}

test('taps that arrive together share one batch and each gets its own decision', async (t) => {
  const { ledger, bus, processor, batches } = setup(t);
  ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }], true);
  for (let i = 0; i < 10; i++)
    processor.enqueue({ kind: 'tap', tap: makeTap('reader-1', cards.alma), till_id: 'till-1' });
  await eventually(() => (bus.published.length === 10 ? true : undefined));
  t.deepEqual(batches, [10], 'one transaction for all ten');
  t.true(bus.published.every((p) => (p.payload as Decision).outcome === 'approved'));
  t.is(purchaseCount(ledger), 10);
});

test('a tap that fails does not take the other taps of its batch with it', async (t) => {
  const { ledger, bus, processor, batches } = setup(t);
  ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }], true);
  // A broken row, as a bug or a damaged database might give us: this card's tap cannot be stored.
  ledger.db.exec(
    `CREATE TRIGGER poison BEFORE INSERT ON taps WHEN NEW.card_uid = '${cards.bo}'
     BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`,
  );
  const good = makeTap('reader-1', cards.alma);
  const bad = makeTap('reader-2', cards.bo);
  const good2 = makeTap('reader-3', cards.alma);
  processor.enqueue({ kind: 'tap', tap: good, till_id: 'till-1' });
  processor.enqueue({ kind: 'tap', tap: bad, till_id: 'till-1' });
  processor.enqueue({ kind: 'tap', tap: good2, till_id: 'till-1' });
  await eventually(() => (bus.published.length === 3 ? true : undefined));
  t.deepEqual(batches, [3], 'they were one batch');

  const byTopic = Object.fromEntries(bus.published.map((p) => [p.topic, p.payload]));
  t.is((byTopic['kantine/testskolen/reader/reader-1/decision'] as Decision).outcome, 'approved');
  t.is((byTopic['kantine/testskolen/reader/reader-3/decision'] as Decision).outcome, 'approved');
  const err = byTopic['kantine/testskolen/reader/reader-2/error'] as ProtocolError;
  t.is(err.code, 'internal_error');
  t.is(err.tap_id, bad.tap_id);
  t.is(purchaseCount(ledger), 2);
  t.is(ledger.taps.storedDecision(bad.tap_id), undefined, 'the failed tap left nothing behind');
  t.is(ledger.accounts.getAccount('acc-bo')?.balance_ore, 200);
  t.deepEqual(ledger.reports.verify(), []);
});
