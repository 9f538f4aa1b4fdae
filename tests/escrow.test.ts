/**
 * Escrow between two sites and central, no faults: the real Central on PGlite, and for each site
 * the real Ledger, TapProcessor and CentralLink, joined by an in-process wire. Fixed scenarios for
 * what the random simulation checks only in bulk.
 */
import { Central, openPglite } from '@kantine/central';
import { CentralLink, defaultLinkOptions, Ledger, realTimers, TapProcessor } from '@kantine/gateway';
import {
  type Decision,
  decodePayload,
  type KantineError,
  LinkDown,
  LinkUp,
  MAX_LINK_PAYLOAD_BYTES,
} from '@kantine/protocol';
import test from 'ava';
import pino from 'pino';
import { makeTap } from './helpers/site.ts';

const clock = { now: () => new Date('2026-11-23T10:00:00Z') };
const silent = pino({ level: 'silent' });

async function world() {
  const db = await openPglite();
  const sites = new Map<string, { ledger: Ledger; link: CentralLink; processor: TapProcessor; up: boolean }>();
  const decisions = new Map<string, (d: Decision) => void>();
  // Messages on the wire and not yet handled: `settle` waits for none (no guessing at times).
  let inFlight = 0;
  const deliver = (fn: () => unknown) => {
    inFlight++;
    setImmediate(async () => {
      try {
        await fn();
      } finally {
        inFlight--;
      }
    });
  };
  // The wire: each message serialised and checked, delivered on a later turn of the event loop.
  const central = new Central(db, clock, (site, msg) => {
    const payload = JSON.stringify(msg);
    deliver(() => {
      const s = sites.get(site);
      if (s?.up) s.link.receive(decodePayload(LinkDown, payload, MAX_LINK_PAYLOAD_BYTES));
    });
  });
  await central.migrate();
  for (const [id, kind] of [
    ['skole', 'school'],
    ['klub', 'club'],
  ] as const) {
    await central.sites.put({ id, name: id, place_kinds: [kind] });
    const ledger = new Ledger(':memory:', clock);
    ledger.catalogue.upsertPlace({ id: 'sted', name: id, kind });
    ledger.catalogue.upsertTill({ id: 'kasse', place_id: 'sted', name: 'Kasse' });
    ledger.catalogue.upsertProduct({
      id: 'frokost',
      place_id: null,
      name: 'Frokost',
      category: 'mad',
      price_ore: 40_00,
      allergens: [],
    });
    const s = { ledger, up: true } as { ledger: Ledger; link: CentralLink; processor: TapProcessor; up: boolean };
    ledger.enableEscrow(); // a linked site sells within its shares
    s.link = new CentralLink(
      ledger,
      (msg) => {
        const payload = JSON.stringify(msg);
        deliver(() =>
          s.up ? central.link.handleUp(id, decodePayload(LinkUp, payload, MAX_LINK_PAYLOAD_BYTES)) : undefined,
        );
      },
      clock,
      realTimers,
      { ...defaultLinkOptions, ask_budget_ms: 30_000 },
    ); // a slow CI machine is not a slow network
    const bus = {
      publish: (_t: string, payload: string) => {
        const d = JSON.parse(payload) as Decision;
        decisions.get(d.tap_id)?.(d);
      },
    };
    s.processor = new TapProcessor(ledger, bus as never, id, 64, silent);
    s.processor.link = s.link;
    sites.set(id, s);
    s.link.connected();
  }
  const settle = async () => {
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setTimeout(r, 5));
      quiet = inFlight === 0 ? quiet + 1 : 0;
    }
  };
  const buy = (site: string, uid: string, quantity = 1) =>
    new Promise<Decision>((resolve) => {
      const s = sites.get(site) as { ledger: Ledger; processor: TapProcessor };
      s.ledger.baskets.setBasket('kasse', [{ product_id: 'frokost', quantity }]);
      const tap = makeTap('laeser', uid);
      decisions.set(tap.tap_id, resolve);
      s.processor.enqueue({ kind: 'tap', tap, till_id: 'kasse' });
    });
  const cut = (site: string, up: boolean) => {
    const s = sites.get(site) as { link: CentralLink; up: boolean };
    s.up = up;
    if (up) s.link.connected();
    else s.link.disconnected();
  };
  const close = async () => {
    for (const s of sites.values()) s.up = false; // the wire goes quiet before the databases close
    await settle();
    for (const s of sites.values()) s.ledger.close();
    await db.close();
  };
  await central.accounts.put({ id: 'emma', first_name: 'Emma', sites: ['skole', 'klub'] });
  await central.cards.put({ uid: '04EE0000000001', kind: 'legacy' });
  await central.cards.activate('04EE0000000001', 'emma');
  await central.money.deposit({ account_id: 'emma', amount_ore: 100_00 });
  await settle();
  return { central, sites, settle, buy, cut, close, db };
}

test('a deposit is shared out between the child’s school and club', async (t) => {
  const w = await world();
  t.teardown(w.close);
  for (const id of ['skole', 'klub']) {
    const s = w.sites.get(id) as { ledger: Ledger };
    t.is(s.ledger.accounts.getAccount('emma')?.balance_ore, 100_00, `${id} knows the balance`);
    t.is(s.ledger.escrow?.available('emma', 'balance'), 50_00, `${id} holds half`);
  }
});

test('online, a purchase the account can afford is approved although another site holds part of the money', async (t) => {
  const w = await world();
  t.teardown(w.close);
  const d = await w.buy('skole', '04EE0000000001', 2); // 80 kr; the school holds 50
  t.is(d.outcome, 'approved');
  t.is(d.balance_ore, 20_00);
  await w.settle();
  t.is((await w.central.accounts.get('emma'))?.balance_ore, 20_00);
  t.is(w.sites.get('klub')?.ledger.accounts.getAccount('emma')?.balance_ore, 20_00, 'the club learns of the sale');
  t.deepEqual(await w.central.money.verify(), []);
});

test('online, a purchase beyond the whole balance is declined as insufficient funds, not for the split', async (t) => {
  const w = await world();
  t.teardown(w.close);
  const d = await w.buy('skole', '04EE0000000001', 3); // 120 kr of 100
  t.is(d.outcome, 'declined');
  t.is(d.code, 'insufficient_funds');
});

test('offline, a site sells within its share and declines beyond it with its own code', async (t) => {
  const w = await world();
  t.teardown(w.close);
  w.cut('skole', false);
  t.is((await w.buy('skole', '04EE0000000001', 1)).outcome, 'approved'); // 40 of its 50
  const d = await w.buy('skole', '04EE0000000001', 1);
  t.is(d.code, 'share_exhausted_offline');
  // The club, online, still sells from its own half.
  t.is((await w.buy('klub', '04EE0000000001', 1)).outcome, 'approved');
  w.cut('skole', true);
  await w.settle();
  t.is(
    (await w.central.accounts.get('emma'))?.balance_ore,
    20_00,
    'the school’s sale reached central after the link came back',
  );
});

test('a card blocked at central is refused by every online site', async (t) => {
  const w = await world();
  t.teardown(w.close);
  await w.central.cards.setBlocked('04EE0000000001', true);
  await w.settle();
  t.is((await w.buy('skole', '04EE0000000001')).code, 'card_blocked');
  t.is((await w.buy('klub', '04EE0000000001')).code, 'card_blocked');
  const err = await t.throwsAsync(w.central.money.deposit({ account_id: 'emma', amount_ore: 10_00 }));
  t.is((err as KantineError).code, 'account_blocked');
});

test('a withdrawal of money the sites hold recalls it, then succeeds', async (t) => {
  const w = await world();
  t.teardown(w.close);
  const err = await t.throwsAsync(
    w.central.money.withdraw({ id: 'udbetaling-1', account_id: 'emma', amount_ore: 70_00 }),
  );
  t.is((err as KantineError).code, 'funds_held_offline');
  await w.settle();
  await w.central.money.withdraw({ id: 'udbetaling-1', account_id: 'emma', amount_ore: 70_00 });
  t.is((await w.central.accounts.get('emma'))?.balance_ore, 30_00);
  const short = await t.throwsAsync(w.central.money.withdraw({ account_id: 'emma', amount_ore: 40_00 }));
  t.is((short as KantineError).code, 'insufficient_balance');
  await w.settle();
  t.is(w.sites.get('skole')?.ledger.accounts.getAccount('emma')?.balance_ore, 30_00);
  t.deepEqual(await w.central.money.verify(), []);
});

test('an offline site is asked once for its share, however often a withdrawal is tried; a grant after the recall is recalled again', async (t) => {
  const w = await world();
  t.teardown(w.close);
  w.cut('skole', false);
  w.cut('klub', false);
  const recalls = async (site: string) =>
    (
      await w.db.query<{ seq: number }>(
        `SELECT seq FROM down_log WHERE site_id = $1 AND change->>'kind' = 'recall' AND change->>'account_id' = 'emma'
         ORDER BY seq`,
        [site],
      )
    ).length;
  for (let i = 0; i < 5; i++) {
    const err = await t.throwsAsync(
      w.central.money.withdraw({ id: 'udbetaling-2', account_id: 'emma', amount_ore: 70_00 }),
    );
    t.is((err as KantineError).code, 'funds_held_offline');
  }
  t.is(await recalls('skole'), 1, 'one recall waits in the school’s log, not five');
  t.is(await recalls('klub'), 1);
  // A deposit meanwhile is shared out: a grant after the waiting recall, which the next need recalls.
  await w.central.money.deposit({ account_id: 'emma', amount_ore: 10_00 });
  const grants = await w.db.query(
    `SELECT seq FROM down_log WHERE site_id = 'skole' AND change->>'kind' = 'grant' AND change->>'budget' = 'balance'`,
  );
  t.true(grants.length > 0, 'the deposit granted the school a share');
  // The withdrawal tried again asks each site once more, once.
  await t.throwsAsync(w.central.money.withdraw({ id: 'udbetaling-2', account_id: 'emma', amount_ore: 70_00 }));
  t.is(await recalls('skole'), 2, 'recalled again after the grant');
  t.is(await recalls('klub'), 2, 'the club was granted a part too');
  // Back online, the sites give back what they hold and the withdrawal goes through.
  w.cut('skole', true);
  w.cut('klub', true);
  await w.settle();
  await w.central.money.withdraw({ id: 'udbetaling-2', account_id: 'emma', amount_ore: 70_00 });
  t.is((await w.central.accounts.get('emma'))?.balance_ore, 40_00);
  t.deepEqual(await w.central.money.verify(), []);
});
