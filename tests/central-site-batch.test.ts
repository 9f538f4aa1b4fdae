/**
 * Central books a site's message as one set (central/src/money/site-batch.ts). It must decide
 * every change exactly as booking them one at a time does — every check of a site's report kept
 * — so the same messages, honest and lying, are sent to two centrals: one books them as sets, the
 * other one change at a time (the way the set-based booking leaves to the old code: here forced
 * by spelling each time with microseconds, the same instant). Their books, shares, down logs,
 * cards, acks and refusals must be the same.
 */
import { Central, type Db, openPglite, openPostgres } from '@kantine/central';
import { type LinkDown, type LinkUp, limitBudget, type UnsequencedUp, type UpChange } from '@kantine/protocol';
import test, { type ExecutionContext } from 'ava';
import { freshDatabase } from './helpers/postgres.ts';
import { until } from './helpers/wait.ts';

const NOW = new Date('2026-12-07T10:00:00.000Z');
const DAY = limitBudget('school', 'day', NOW);
const CARD = '04B00000000A01';
const ACCOUNTS = ['acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-none'];

/** A central with three sites, four accounts with shares, a day limit and a kantine card. */
async function world(db: Db): Promise<{ central: Central; sent: [string, LinkDown][] }> {
  const sent: [string, LinkDown][] = [];
  const central = new Central(db, { now: () => NOW }, (site, msg) => sent.push([site, msg]));
  await central.migrate();
  await central.sites.put({ id: 'skole-a', name: 'A', place_kinds: ['school'] });
  await central.sites.put({ id: 'skole-b', name: 'B', place_kinds: ['school'] });
  await central.sites.put({ id: 'klub-c', name: 'C', place_kinds: ['club'] });
  await central.accounts.put({
    id: 'acc-1',
    first_name: 'Alma',
    sites: ['skole-a', 'skole-b'],
    limits: [{ place_kind: 'school', period: 'day', limit_ore: 2_000 }],
  });
  await central.accounts.put({ id: 'acc-2', first_name: 'Bo', sites: ['skole-a'] });
  await central.accounts.put({ id: 'acc-3', first_name: 'Cai', sites: ['klub-c'] });
  await central.accounts.put({ id: 'acc-4', first_name: 'Dina', sites: ['skole-a', 'klub-c'] });
  await central.batches.register('BATCH-1', new Uint8Array(16).fill(7));
  await central.cards.put({ uid: CARD, kind: 'ntag424', batch_id: 'BATCH-1' });
  await central.cards.activate(CARD, 'acc-1');
  for (const [id, amount] of [
    ['acc-1', 10_000],
    ['acc-2', 3_000],
    ['acc-3', 1_000],
    ['acc-4', 4_000],
  ] as const)
    await central.money.deposit({ id: `dep-${id}`, account_id: id, amount_ore: amount });
  return { central, sent };
}

/** A small seeded generator (mulberry32): the same messages for both centrals. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Entry = Extract<UpChange, { kind: 'entry' }>['entry'];

/**
 * Messages from skole-a and skole-b: sales (some beyond the share, on accounts not served, of the
 * wrong kind of place, naming a budget twice or none of the balance), voids (honest, twice, of the
 * wrong amount, of another site's sale, of a deposit, of a sale in the same message), repeated
 * entry ids, returns (honest and beyond the share), SUN counters up and down, re-sent and gapped
 * sequence numbers.
 */
function messages(seed: number, count: number): [string, LinkUp][] {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const seq = new Map([
    ['skole-a', 0],
    ['skole-b', 0],
  ]);
  const sales: Entry[] = [];
  let n = 0;
  const id = () => `e-${seed}-${++n}`;
  const time = () => new Date(NOW.getTime() + n * 1_000).toISOString();
  const out: [string, LinkUp][] = [];
  for (let m = 0; m < count; m++) {
    const site = m % 3 === 2 ? 'skole-b' : 'skole-a';
    const changes: UnsequencedUp[] = [];
    for (let k = 1 + Math.floor(next() * 12); k > 0; k--) {
      const r = next();
      if (r < 0.45) {
        const budgets = pick([
          ['balance'],
          ['balance'],
          ['balance', DAY],
          [DAY],
          ['balance', 'balance'],
          ['club:day:2026-12-07'],
        ]);
        const entry: Entry = {
          id: id(),
          account_id: pick(ACCOUNTS),
          kind: 'purchase',
          amount_ore: next() < 0.05 ? 100 : -(1 + Math.floor(next() * 1_500)),
          place_kind: next() < 0.1 ? 'club' : 'school',
          budgets,
          tap_id: `tap-${n}`,
          lines: [{ product_id: 'frugt', name: 'Frugt', quantity: 1, unit_price_ore: 300 }],
          created_at: time(),
          ...(next() < 0.3 ? { card: { uid: CARD, sun_counter: 1 + Math.floor(next() * 40) } } : {}),
        };
        sales.push(entry);
        changes.push({ kind: 'entry', entry });
      } else if (r < 0.7 && sales.length > 0) {
        const sale = pick(sales);
        const wrong = next();
        changes.push({
          kind: 'entry',
          entry: {
            id: id(),
            account_id: sale.account_id,
            kind: 'void',
            amount_ore: wrong < 0.1 ? -sale.amount_ore + 1 : -sale.amount_ore,
            place_kind: sale.place_kind,
            budgets: wrong > 0.9 ? ['balance'] : sale.budgets,
            voids_entry_id: wrong > 0.95 ? `dep-${sale.account_id}` : sale.id,
            reason: 'fejl',
            created_at: time(),
          },
        });
      } else if (r < 0.8 && sales.length > 0) {
        // The same entry again (a re-send), or its id on another account.
        const sale = pick(sales);
        changes.push({
          kind: 'entry',
          entry: next() < 0.5 ? sale : { ...sale, account_id: pick(ACCOUNTS) },
        });
      } else {
        changes.push({
          kind: 'return',
          account_id: pick(ACCOUNTS),
          budget: pick(['balance', DAY]),
          amount_ore: 1 + Math.floor(next() * 3_000),
        });
      }
    }
    const from = seq.get(site) as number;
    const numbered = changes.map((c, i) => ({ ...c, seq: from + 1 + i }) as UpChange);
    const shape = next();
    if (shape < 0.1) {
      // A gap: the changes after a missing one, which central must not apply.
      out.push([site, { v: 1, t: 'changes', changes: numbered.map((c) => ({ ...c, seq: c.seq + 1 })) }]);
    }
    // Sometimes shuffled, and sometimes with the previous message's last change again (a re-send).
    const list = shape > 0.8 ? [...numbered].reverse() : numbered;
    out.push([site, { v: 1, t: 'changes', changes: list }]);
    if (shape > 0.9) out.push([site, { v: 1, t: 'changes', changes: list.slice(0, 2) }]);
    seq.set(site, from + numbered.length);
  }
  return out;
}

/** The same instant with microseconds: booked one change at a time. */
function oneByOne(msg: LinkUp): LinkUp {
  if (msg.t !== 'changes') return msg;
  return {
    ...msg,
    changes: msg.changes.map((c) =>
      c.kind === 'entry' ? { ...c, entry: { ...c.entry, created_at: c.entry.created_at.replace('Z', '000Z') } } : c,
    ),
  };
}

/** Everything the up-apply writes, in a form both centrals must share. */
async function books(db: Db) {
  const entries = await db.query(
    `SELECT id, account_id, kind, amount_ore, balance_after_ore, origin, place_kind, voids_entry_id, reason, lines,
            tap_id, budgets, created_at FROM entries ORDER BY seq`,
  );
  return {
    entries,
    accounts: await db.query('SELECT id, balance_ore FROM accounts ORDER BY id'),
    shares: await db.query('SELECT * FROM shares ORDER BY account_id, budget, site_id'),
    // each change's restore mark is random by design (docs/replication.md §Restore): compared without it
    down: (
      await db.query<{ site_id: string; seq: number; change: Record<string, unknown> }>(
        'SELECT site_id, seq, change FROM down_log ORDER BY site_id, seq',
      )
    ).map(({ change: { mark, ...change }, ...row }) => ({ ...row, change, marked: typeof mark === 'string' })),
    cards: await db.query('SELECT uid, state, sun_counter FROM cards ORDER BY uid'),
    sites: await db.query('SELECT id, up_cursor, down_seq, down_sent_at FROM sites ORDER BY id'),
    refused: await db.query(
      "SELECT site_id, seq, code, change->>'kind' AS kind, change->'entry'->>'id' AS entry_id FROM refused_up ORDER BY site_id, seq",
    ),
  };
}

async function compare(t: ExecutionContext, open: () => Promise<Db>, seed: number, count: number) {
  const [setDb, eachDb] = [await open(), await open()];
  t.teardown(async () => {
    await setDb.close();
    await eachDb.close();
  });
  const set = await world(setDb);
  const each = await world(eachDb);
  t.deepEqual(await books(setDb), await books(eachDb), 'the same world');
  set.sent.length = 0;
  each.sent.length = 0;
  const refused = { set: [] as unknown[], each: [] as unknown[] };
  for (const [site, msg] of messages(seed, count)) {
    for (const r of await set.central.link.handleUp(site, msg)) refused.set.push([r.seq, r.code, r.entry_id]);
    for (const r of await each.central.link.handleUp(site, oneByOne(msg)))
      refused.each.push([r.seq, r.code, r.entry_id]);
  }
  t.deepEqual(refused.set, refused.each, 'the same refusals');
  // each copy's restore mark is random by design: compared without it
  const unmarked = (sent: [string, LinkDown][]) =>
    JSON.parse(JSON.stringify(sent).replace(/"mark":"[0-9a-f]{16}",?/g, ''));
  t.deepEqual(unmarked(set.sent), unmarked(each.sent), 'the same acks and copies sent to the sites');
  const [a, b] = [await books(setDb), await books(eachDb)];
  t.deepEqual(a, b);
  t.deepEqual(await set.central.money.verify(), []);
  // The run met what it is meant to: sales booked and refused for each reason.
  t.true(a.entries.filter((e) => e.kind === 'purchase' && e.origin !== 'central').length > 10);
  t.true(a.entries.some((e) => e.kind === 'void'));
  const codes = new Set(a.refused.map((r) => r.code));
  for (const code of ['link_account_not_served', 'link_entry_invalid', 'link_void_mismatch', 'link_share_exceeded'])
    t.true(codes.has(code), code);
  t.true(
    a.cards.some((c) => (c.sun_counter as number) > 0),
    'a SUN counter was raised',
  );
  t.true(
    a.down.some((d) => (d.change as { kind: string }).kind === 'card'),
    'the counter went to the other site',
  );
}

test('a site’s messages booked as sets and one change at a time give the same books, on Postgres', async (t) => {
  t.timeout(120_000);
  const urls = [await freshDatabase(t, 'batch_set'), await freshDatabase(t, 'batch_each')];
  await compare(t, () => openPostgres(urls.shift() as string), 22, 60);
});

test('a site’s messages booked as sets and one change at a time give the same books, on PGlite', async (t) => {
  t.timeout(120_000);
  await compare(t, () => openPglite(), 2212, 60);
});

test('an entry id another transaction books at the same moment is refused, and the rest of the message is booked', async (t) => {
  const url = await freshDatabase(t, 'batch_race');
  const db = await openPostgres(url);
  t.teardown(() => db.close());
  const { central } = await world(db);
  // Another connection books entry "taken" on acc-3 and holds its transaction open.
  const other = await openPostgres(url);
  t.teardown(() => other.close());
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  let holding: () => void = () => {};
  const holds = new Promise<void>((r) => {
    holding = r;
  });
  const otherTx = other.transaction(async (sql) => {
    await sql.query(
      `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, origin, created_at)
       VALUES ('taken', 'acc-3', 'deposit', 1, 1001, 'central', now())`,
    );
    await sql.query("UPDATE accounts SET balance_ore = balance_ore + 1 WHERE id = 'acc-3'");
    holding();
    await held;
  });
  await holds;
  const entry = (id: string): Entry => ({
    id,
    account_id: 'acc-2',
    kind: 'purchase',
    amount_ore: -100,
    place_kind: 'school',
    budgets: ['balance'],
    created_at: NOW.toISOString(),
  });
  const booking = central.link.handleUp('skole-a', {
    v: 1,
    t: 'changes',
    changes: [
      { seq: 1, kind: 'entry', entry: entry('first') },
      { seq: 2, kind: 'entry', entry: entry('taken') },
      { seq: 3, kind: 'entry', entry: entry('third') },
    ],
  });
  // The set's write waits on the other transaction's "taken" (the only wait in this test's own
  // database); then that one commits.
  await until(
    async () =>
      (await db.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        .length > 0
        ? true
        : undefined,
    'the booking waits on the other transaction',
  );
  release();
  await otherTx;
  const refusals = await booking;
  t.deepEqual(
    refusals.map((r) => [r.seq, r.code, r.entry_id]),
    [[2, 'link_entry_invalid', 'taken']],
  );
  const booked = await db.query<{ id: string; account_id: string }>(
    "SELECT id, account_id FROM entries WHERE origin <> 'central' OR id = 'taken' ORDER BY seq",
  );
  t.deepEqual(booked, [
    { id: 'taken', account_id: 'acc-3' },
    { id: 'first', account_id: 'acc-2' },
    { id: 'third', account_id: 'acc-2' },
  ]);
  t.deepEqual(await central.money.verify(), []);
});

test('a sale read while another transaction held its account is judged by what that one committed', async (t) => {
  const url = await freshDatabase(t, 'batch_stale');
  const db = await openPostgres(url);
  t.teardown(() => db.close());
  const { central } = await world(db);
  // Another transaction holds acc-2 (3,000 øre, all of it skole-a's share) and adds 5,000 to the
  // balance and the share, as a deposit does.
  const other = await openPostgres(url);
  t.teardown(() => other.close());
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  let holding: () => void = () => {};
  const holds = new Promise<void>((r) => {
    holding = r;
  });
  const otherTx = other.transaction(async (sql) => {
    await sql.query("SELECT 1 FROM accounts WHERE id = 'acc-2' FOR UPDATE");
    await sql.query(
      `INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, origin, created_at)
       VALUES ('dep-more', 'acc-2', 'deposit', 5000, 8000, 'central', now())`,
    );
    await sql.query("UPDATE accounts SET balance_ore = balance_ore + 5000 WHERE id = 'acc-2'");
    await sql.query(
      "UPDATE shares SET granted_ore = granted_ore + 5000 WHERE account_id = 'acc-2' AND site_id = 'skole-a' AND budget = 'balance'",
    );
    holding();
    await held;
  });
  await holds;
  // A sale of 6,000 øre: beyond the share before that transaction, within it after.
  const booking = central.link.handleUp('skole-a', {
    v: 1,
    t: 'changes',
    changes: [
      {
        seq: 1,
        kind: 'entry',
        entry: {
          id: 'big-sale',
          account_id: 'acc-2',
          kind: 'purchase',
          amount_ore: -6_000,
          place_kind: 'school',
          budgets: ['balance'],
          created_at: NOW.toISOString(),
        },
      },
    ],
  });
  await until(
    async () =>
      (await db.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        .length > 0
        ? true
        : undefined,
    'the booking waits for the account',
  );
  release();
  await otherTx;
  t.deepEqual(await booking, []);
  t.is((await central.accounts.get('acc-2'))?.balance_ore, 2_000);
  t.deepEqual(await central.money.verify(), []);
});
