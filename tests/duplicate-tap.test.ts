import { readerTopic } from '@kantine/protocol';
import test from 'ava';
import { cards, makeTap, purchaseCount, rawTap, SITE, startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

test('a repeated tap id is charged once and answered with the stored decision', async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const client = await site.rawClient('reader-1', secret);
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }], true);

  const tap = makeTap('reader-1', cards.alma);
  const first = await rawTap(client, tap);
  const again = await rawTap(client, { ...tap, attempt: 2 });
  t.is(first.outcome, 'approved');
  t.deepEqual(again, first, 'the repeat gets the very same decision');
  t.is(purchaseCount(site.ledger), 1);
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 10_000 - 600);
});

test('copies of one tap arriving together in one batch are charged once', async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const client = await site.rawClient('reader-1', secret);
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'yoghurt', quantity: 1 }], true);
  const decisions: string[] = [];
  site.gateway.on('decision', (d) => decisions.push(`${d.outcome}:${d.entry_id}`));

  const tap = makeTap('reader-1', cards.alma);
  await Promise.all(
    [1, 2, 3, 4, 5].map((attempt) =>
      client.publishAsync(readerTopic(SITE, 'reader-1', 'tap'), JSON.stringify({ ...tap, attempt }), { qos: 1 }),
    ),
  );
  await eventually(() => (decisions.length === 5 ? true : undefined));
  t.is(new Set(decisions).size, 1, 'five answers, all the same decision');
  t.is(purchaseCount(site.ledger), 1);
});
