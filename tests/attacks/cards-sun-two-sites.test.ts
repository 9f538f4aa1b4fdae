/**
 * A SUN message overheard at one site, spent again at another: the highest counter a site
 * accepted travels with the card through central, and every site of the account refuses a message
 * at or below it.
 */

import test from 'ava';
import { KEYS, programmedCard, readTwin } from '../helpers/cards.ts';
import { startCentral } from '../helpers/central.ts';
import { makeTap, rawTap, startSite } from '../helpers/site.ts';
import { eventually } from '../helpers/wait.ts';

const EMMA = '04E0000000AA01';

test('a SUN message spent at one school is declined card_replayed at the other', async (t) => {
  const central = await startCentral(t);
  const linkA = await central.addSite('skole-a');
  const linkB = await central.addSite('skole-b');
  const ok = (r: { status: number; body: unknown }, status: number) => t.is(r.status, status, JSON.stringify(r.body));
  ok(
    await central.api('PUT', '/api/batches/KOMMUNE-1', { sdm_master: Buffer.from(KEYS.sdmMaster).toString('hex') }),
    204,
  );
  ok(await central.api('PUT', '/api/accounts/acc-emma', { first_name: 'Emma', sites: ['skole-a', 'skole-b'] }), 204);
  ok(await central.api('PUT', `/api/cards/${EMMA}`, { kind: 'ntag424', batch_id: 'KOMMUNE-1' }), 204);
  ok(await central.api('POST', `/api/cards/${EMMA}/activate`, { account_id: 'acc-emma' }), 204);
  ok(await central.api('POST', '/api/accounts/acc-emma/deposits', { amount_ore: 10_000 }), 201);
  const card = await programmedCard(EMMA, KEYS, 'KOMMUNE-1');

  const sites = await Promise.all(
    (
      [
        ['skole-a', linkA],
        ['skole-b', linkB],
      ] as const
    ).map(async ([id, link]) => {
      const site = await startSite(t, { site: id, linked: true, config: { central: link } });
      await eventually(
        () =>
          site.ledger.accounts.getAccount('acc-emma')?.balance_ore === 10_000 && site.ledger.accounts.getCard(EMMA)
            ? true
            : undefined,
        15_000,
        `${id} has Emma and her card`,
      );
      const client = await site.rawClient('r1', await site.enrol('r1', 'till-1'));
      site.ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }]);
      return { site, tap: (read: Awaited<ReturnType<typeof readTwin>>) => rawTap(client, makeTap('r1', read), id) };
    }),
  );
  const [a, b] = sites as [(typeof sites)[0], (typeof sites)[0]];

  // Emma pays at skole-a; someone overheard the message.
  const overheard = await readTwin(card);
  t.like(await a.tap(overheard), { outcome: 'approved' });
  // The counter reaches skole-b through central.
  await eventually(
    () => ((b.site.ledger.accounts.getCard(EMMA)?.sun_counter ?? 0) >= 1 ? true : undefined),
    15_000,
    'skole-b knows the counter skole-a accepted',
  );
  t.like(await b.tap(overheard), { outcome: 'declined', code: 'card_replayed' });
  const soldHere = b.site.ledger.db
    .prepare("SELECT COUNT(*) AS n FROM entries WHERE kind = 'purchase' AND origin IS NULL")
    .get() as { n: number };
  t.is(soldHere.n, 0, 'nothing was charged at skole-b');
  // Emma's card itself still pays there.
  t.like(await b.tap(await readTwin(card)), { outcome: 'approved' });
});
