/**
 * A site that lies on the link (a stolen site secret, or a broken gateway): central checks every
 * entry a site reports against its own record, refuses what does not hold with a coded error,
 * sets it aside and lets the site's later changes flow (design principles 12 and 13).
 */

import type { UpChange } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { v7 as uuidv7 } from 'uuid';
import { siteLogin, startCentral, type TestCentral } from '../helpers/central.ts';
import { until } from '../helpers/wait.ts';

/** Central with an account served by two schools (10 kr, shared out) and a third school that serves it not. */
async function centralWithTwoSites(t: ExecutionContext) {
  const central = await startCentral(t);
  await central.addSite('skole-a');
  const b = await central.addSite('skole-b');
  const c = await central.addSite('skole-c');
  t.is(
    (await central.api('PUT', '/api/accounts/acc-alma', { first_name: 'Alma', sites: ['skole-a', 'skole-b'] })).status,
    204,
  );
  t.is((await central.api('POST', '/api/accounts/acc-alma/deposits', { amount_ore: 1_000 })).status, 201);
  return { central, b, c };
}

/** A raw MQTT login as a site: what an attacker with the site's secret can send. */
async function asSite(t: ExecutionContext, central: TestCentral, site: string, secret: string) {
  const { client, got } = await siteLogin(t, central, site, secret);
  let seq = 0;
  return {
    got,
    /** Sends the changes, numbered on from the last, and waits for central's ack of them all. */
    async send(...changes: Omit<UpChange, 'seq'>[]) {
      const numbered = changes.map((c) => ({ ...c, seq: ++seq }));
      await client.publishAsync(`kantine/link/${site}/up`, JSON.stringify({ v: 1, t: 'changes', changes: numbered }), {
        qos: 1,
      });
      const want = seq;
      await until(
        async () => (got.some((m) => m.t === 'ack' && m.up_cursor === want) ? true : undefined),
        `central acknowledges up to ${want}`,
      );
    },
    async ask(account_id: string, budget: string, amount_ore: number) {
      const ask_id = uuidv7();
      await client.publishAsync(
        `kantine/link/${site}/up`,
        JSON.stringify({ v: 1, t: 'ask', ask_id, account_id, needs: [{ budget, amount_ore }] }),
        { qos: 1 },
      );
      return until(async () => got.find((m) => m.t === 'answer' && m.ask_id === ask_id), 'the answer');
    },
  };
}

const entry = (over: Record<string, unknown>) => ({
  kind: 'entry' as const,
  entry: {
    id: uuidv7(),
    account_id: 'acc-alma',
    kind: 'purchase',
    amount_ore: -100,
    place_kind: 'school',
    budgets: ['balance'],
    created_at: new Date().toISOString(),
    ...over,
  },
});

async function balance(central: TestCentral): Promise<number> {
  return (await central.api('GET', '/api/accounts/acc-alma')).body.balance_ore as number;
}

test('a void of 5,000,000 øre for a sale of 100 creates no money, and the site’s later sales still arrive', async (t) => {
  const { central, b } = await centralWithTwoSites(t);
  const site = await asSite(t, central, 'skole-b', b.secret);
  const sale = entry({});
  await site.send(sale, entry({ kind: 'void', amount_ore: 5_000_000, voids_entry_id: sale.entry.id }), entry({}));
  // The sale and the one after the lie are booked; the lie is not.
  t.is(await balance(central), 800);
  t.is(central.service.central.link.refused.get('link_void_mismatch'), 1);
  t.deepEqual(await central.service.central.money.verify(), []);

  // The honest void of that sale passes once; a second void of it is refused.
  await site.send(entry({ kind: 'void', amount_ore: 100, voids_entry_id: sale.entry.id }));
  t.is(await balance(central), 900);
  await site.send(entry({ kind: 'void', amount_ore: 100, voids_entry_id: sale.entry.id }));
  t.is(await balance(central), 900);
  t.is(central.service.central.link.refused.get('link_void_mismatch'), 2);
});

test('a void of another site’s sale, or of a deposit, gives nothing back', async (t) => {
  const { central, b } = await centralWithTwoSites(t);
  const site = await asSite(t, central, 'skole-b', b.secret);
  const deposit = ((await central.api('GET', '/api/accounts/acc-alma/entries')).body.entries as { id: string }[])[0];
  await site.send(entry({ kind: 'void', amount_ore: 1_000, voids_entry_id: deposit?.id }));
  t.is(await balance(central), 1_000);
  t.is(central.service.central.link.refused.get('link_void_mismatch'), 1);
});

test('a site cannot spend beyond its share nor give back what it never had', async (t) => {
  const { central, b } = await centralWithTwoSites(t);
  const site = await asSite(t, central, 'skole-b', b.secret);
  // skole-b holds half of 10 kr.
  await site.send(
    entry({ amount_ore: -900 }),
    { kind: 'return', account_id: 'acc-alma', budget: 'balance', amount_ore: 5_000 } as Omit<UpChange, 'seq'>,
    entry({ amount_ore: 100, kind: 'purchase' }),
  );
  t.is(await balance(central), 1_000);
  t.is(central.service.central.link.refused.get('link_share_exceeded'), 2);
  t.is(central.service.central.link.refused.get('link_entry_invalid'), 1);
  t.deepEqual(await central.service.central.money.verify(), []);
});

test('a site that does not serve an account can neither book on it nor be granted a share of it', async (t) => {
  const { central, c } = await centralWithTwoSites(t);
  const site = await asSite(t, central, 'skole-c', c.secret);
  await site.send(entry({}));
  t.is(await balance(central), 1_000);
  t.is(central.service.central.link.refused.get('link_account_not_served'), 1);
  const answer = await site.ask('acc-alma', 'balance', 500);
  t.like(answer, { t: 'answer', result: 'refused' });
  t.is(central.service.central.link.refused.get('link_account_not_served'), 2);
  const shares = await central.service.central.db.query<{ site_id: string }>(
    "SELECT site_id FROM shares WHERE account_id = 'acc-alma' AND site_id = 'skole-c'",
  );
  t.deepEqual(shares, []);
});
