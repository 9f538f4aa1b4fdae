/**
 * A restore of central from an older backup loses no site's sale (docs/replication.md §Restore,
 * docs/operations/central.md §Restoring from a backup). Central on Postgres and a real gateway
 * linked over MQTT: a pg_dump at one point, then more sales, voids, a deposit, a block and a new
 * limit; central stopped, the dump restored into a fresh database, central started on it. Without
 * anyone running a command the site is resynced: every sale and void it has is at central exactly
 * once; the restore report lists exactly what central lost (the deposit, the block, the limit);
 * entered again as the report says, balances and shares agree at both ends.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Db, openPostgres } from '@kantine/central';
import test, { type ExecutionContext } from 'ava';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { freshDatabase, PG_URL } from './helpers/postgres.ts';
import { repoRoot } from './helpers/process.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const run = promisify(execFile);
const SITE = 'restoreskolen';
const CARD_ALMA = '04000000002A01';
const CARD_BO = '04000000002B02';

type Reader = Awaited<ReturnType<TestSite['reader']>>;

async function sell(site: TestSite, reader: Reader, card: string, quantity = 1): Promise<string> {
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity }]);
  const result = await reader.tap(card);
  if (result.kind !== 'decision' || result.decision.outcome !== 'approved' || !result.decision.entry_id)
    throw new Error(`not a sale: ${JSON.stringify(result)}`);
  return result.decision.entry_id;
}

async function voidSale(site: TestSite, entryId: string): Promise<string> {
  const res = await site.api('till-1', 'POST', '/void', { entry_id: entryId, reason: 'fejlslag' });
  if (res.status !== 200) throw new Error(`void: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { entry_id: string }).entry_id;
}

function ok(t: ExecutionContext, r: { status: number; body: unknown }, status: number): void {
  t.is(r.status, status, JSON.stringify(r.body));
}

/** Both ends at rest: the site's outbox empty, every change of central's acknowledged. */
async function settled(central: TestCentral, site: TestSite): Promise<void> {
  await until(
    async () => {
      const outbox = site.ledger.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number };
      const [row] = await central.service.central.db.query<{ down_seq: number; down_acked: number }>(
        'SELECT down_seq, down_acked FROM sites WHERE id = $1',
        [SITE],
      );
      return outbox.n === 0 && row && row.down_seq === row.down_acked ? true : undefined;
    },
    'both ends settled',
    20_000,
  );
}

/** The site's own sales and voids. */
function ownEntries(site: TestSite): string[] {
  return (
    site.ledger.db.prepare("SELECT id FROM entries WHERE origin IS NULL AND kind IN ('purchase', 'void')").all() as {
      id: string;
    }[]
  ).map((r) => r.id);
}

/** Each share as the site holds it (available) and as central counts it (outstanding), by account and budget. */
async function shares(central: TestCentral, site: TestSite) {
  const here = Object.fromEntries(
    (
      site.ledger.db
        .prepare('SELECT account_id, budget, granted_ore - used_ore - returned_ore AS left_ore FROM shares')
        .all() as { account_id: string; budget: string; left_ore: number }[]
    )
      .filter((s) => s.left_ore !== 0)
      .map((s) => [`${s.account_id} ${s.budget}`, s.left_ore])
      .sort(),
  );
  const there = Object.fromEntries(
    (
      await central.service.central.db.query<{ account_id: string; budget: string; left_ore: number }>(
        `SELECT account_id, budget, granted_ore - consumed_ore - returned_ore AS left_ore FROM shares WHERE site_id = $1`,
        [SITE],
      )
    )
      .filter((s) => Number(s.left_ore) !== 0)
      .map((s) => [`${s.account_id} ${s.budget}`, Number(s.left_ore)])
      .sort(),
  );
  return { here, there };
}

/** Central stopped, its database made anew (a fresh, empty one) and filled from the dump. */
async function restoreDump(t: ExecutionContext, central: TestCentral, dbUrl: string, dump: string): Promise<Db> {
  const dbName = new URL(dbUrl).pathname.slice(1);
  await central.stop();
  const admin = await openPostgres(PG_URL);
  await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.close();
  await run('pg_restore', [`--dbname=${dbUrl}`, dump]);
  const db = await openPostgres(dbUrl);
  t.teardown(() => db.close());
  return db;
}

/**
 * A gate in front of central's broker: while shut, a site's connection is dropped at once (a
 * site kept away without refusing its login, which would stop its client for good).
 */
async function gate(t: ExecutionContext, target: URL): Promise<{ url: string; shut: boolean }> {
  const sockets = new Set<Socket>();
  const state = { url: '', shut: false };
  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (state.shut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ port: Number(target.port), host: '127.0.0.1' });
    upstream.on('error', () => client.destroy());
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  state.url = `${target.protocol}//127.0.0.1:${(server.address() as { port: number }).port}`;
  return state;
}

/** Central on a database of its own, one site with two children (100 kr each, a card each) and its gateway. */
async function linked(t: ExecutionContext) {
  const dbUrl = await freshDatabase(t, 'restore');
  const dir = mkdtempSync(join(tmpdir(), 'kantine-restore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const central = await startCentral(t, { database: { url: dbUrl } });
  const link = await central.addSite(SITE);
  const door = await gate(t, new URL(link.url));
  for (const [account, card, name] of [
    ['acc-alma', CARD_ALMA, 'Alma'],
    ['acc-bo', CARD_BO, 'Bo'],
  ] as const) {
    ok(t, await central.api('PUT', `/api/accounts/${account}`, { first_name: name, sites: [SITE] }), 204);
    ok(t, await central.api('PUT', `/api/cards/${card}`, { kind: 'legacy' }), 204);
    ok(t, await central.api('POST', `/api/cards/${card}/activate`, { account_id: account }), 204);
    ok(t, await central.api('POST', `/api/accounts/${account}/deposits`, { amount_ore: 10_000 }), 201);
  }
  const site = await startSite(t, { site: SITE, linked: true, config: { central: { ...link, url: door.url } } });
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-bo')?.balance_ore === 10_000 ? true : undefined),
    10_000,
    'the accounts at the site',
  );
  return { central, site, door, dbUrl, dir, dump: join(dir, 'central.dump') };
}

test('central restored from an older pg_dump: every sale once at central, the report lists exactly what central lost, and the books agree again', async (t) => {
  t.timeout(120_000);
  const { central, site, dbUrl, dir, dump } = await linked(t);
  const reader = await site.reader('laeser-1');

  // Before the backup: three sales, all at central.
  const before = [
    await sell(site, reader, CARD_ALMA),
    await sell(site, reader, CARD_ALMA),
    await sell(site, reader, CARD_BO),
  ];
  await settled(central, site);
  await run('pg_dump', ['--format=custom', `--file=${dump}`, dbUrl]);

  // After the backup: sales, a void of a sale from before it and of one after it, and what
  // central makes itself — a deposit, a block, a limit — all of which reach the site.
  const after = [await sell(site, reader, CARD_ALMA), await sell(site, reader, CARD_BO)];
  const lastAlma = await sell(site, reader, CARD_ALMA);
  const voids = [await voidSale(site, before[0] as string), await voidSale(site, lastAlma)];
  after.push(lastAlma);
  ok(
    t,
    await central.api('POST', '/api/accounts/acc-alma/deposits', { id: 'indbetaling-efter-backup', amount_ore: 5_000 }),
    201,
  );
  // A sale the lost deposit paid for: central cannot book it until the deposit is entered again.
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-alma')?.balance_ore === 14_400 ? true : undefined),
    10_000,
    'the deposit at the site',
  );
  await settled(central, site);
  const big = await sell(site, reader, CARD_ALMA, 40);
  after.push(big);
  ok(t, await central.api('POST', `/api/cards/${CARD_BO}/block`), 204);
  const limits = [{ place_kind: 'club', period: 'week', limit_ore: 4_000 }];
  ok(t, await central.api('PUT', '/api/accounts/acc-alma', { first_name: 'Alma', sites: [SITE], limits }), 204);
  await eventually(
    () => (site.ledger.accounts.getCard(CARD_BO)?.state === 'blocked' ? true : undefined),
    10_000,
    'the block at the site',
  );
  await settled(central, site);
  const atSite = ownEntries(site);
  t.is(atSite.length, 3 + 4 + 2, 'seven sales and two voids at the site');
  const almaAtSite = site.ledger.accounts.getAccount('acc-alma')?.balance_ore as number;
  t.is(almaAtSite, 10_000 + 5_000 - 4 * 300 + 2 * 300 - 40 * 300);

  // The restore: central stopped, its database made anew from the dump, central started on it.
  const restored = await restoreDump(t, central, dbUrl, dump);
  const [lost] = await restored.query<{ n: number }>(
    "SELECT COUNT(*)::int AS n FROM entries WHERE origin = $1 AND kind IN ('purchase', 'void')",
    [SITE],
  );
  t.is(lost?.n, 3, 'the backup holds only the sales from before it');
  await central.restart();

  // Nobody runs anything: the site reconnects, central sees it is ahead and resyncs it.
  await until(
    async () => {
      const [r] = await restored.query<{ n: number }>(
        'SELECT COUNT(*)::int AS n FROM link_resyncs WHERE site_id = $1 AND done_at IS NOT NULL',
        [SITE],
      );
      return r && r.n > 0 ? true : undefined;
    },
    'the site resynced',
    30_000,
  );
  await settled(central, site);
  const booked = async () =>
    restored.query<{ id: string; n: number }>(
      "SELECT id, COUNT(*)::int AS n FROM entries WHERE origin = $1 AND kind IN ('purchase', 'void') GROUP BY id",
      [SITE],
    );
  const atCentral = await booked();
  t.deepEqual(
    atCentral.map((r) => r.id).sort(),
    atSite.filter((id) => id !== big).sort(),
    'every sale and void of the site is at central but the one the lost deposit paid for',
  );
  t.true(
    atCentral.every((r) => r.n === 1),
    'each exactly once',
  );
  for (const id of [...after, ...voids])
    if (id !== big)
      t.true(
        atCentral.some((r) => r.id === id),
        `${id} booked again`,
      );

  // The report: exactly what central made after the backup, with what to enter again.
  const report = (await central.api('GET', '/api/restore-report')).body;
  t.is(report.resyncs.length, 1);
  t.like(report.resyncs[0], { site: SITE });
  t.not(report.resyncs[0].done_at, null);
  t.deepEqual(
    report.entries.map((e: { id: string; kind: string; amount_ore: number; account_id: string }) => [
      e.id,
      e.kind,
      e.amount_ore,
      e.account_id,
    ]),
    [['indbetaling-efter-backup', 'deposit', 5_000, 'acc-alma']],
  );
  t.regex(report.entries[0].action, /POST \/api\/accounts\/acc-alma\/deposits/);
  t.deepEqual(
    report.cards.map((c: { uid: string; site_state: string; central_state: string }) => [
      c.uid,
      c.site_state,
      c.central_state,
    ]),
    [[CARD_BO, 'blocked', 'active']],
  );
  t.deepEqual(
    report.accounts.map((a: { account_id: string; fields: string[]; site_limits: unknown }) => [
      a.account_id,
      a.fields,
      a.site_limits,
    ]),
    [['acc-alma', ['limits'], limits]],
  );
  t.deepEqual(
    report.refused.map((r: { entry_id: string; code: string }) => [r.entry_id, r.code]),
    [[big, 'link_share_exceeded']],
    'the sale whose money went with the lost deposit waits for it',
  );
  // The same report on the command line, as an administrator runs it.
  const config = join(dir, 'central.json');
  writeFileSync(config, JSON.stringify({ database: { url: dbUrl } }));
  const cli = await run(process.execPath, [join(repoRoot, 'central', 'bin', 'kantine-central.mjs'), 'restore-report'], {
    cwd: repoRoot,
    env: { ...process.env, KANTINE_CENTRAL_CONFIG: config },
  });
  t.regex(cli.stdout, /indbetaling-efter-backup/);
  t.regex(cli.stdout, /POST \/api\/cards\/04000000002B02\/block/);
  // Only an admin may read it: it names children and their money.
  t.is((await central.api('GET', '/api/restore-report', undefined, await central.tokenFor('finance'))).status, 403);
  t.is((await central.api('GET', '/api/restore-report', undefined, null)).status, 401);

  // Until it is entered again, the site knows a deposit central does not.
  const almaAtCentral = async () => (await central.api('GET', '/api/accounts/acc-alma')).body.balance_ore as number;
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, almaAtSite);
  t.is(await almaAtCentral(), almaAtSite - 5_000 + 40 * 300);

  // The administrator enters it again as the report says: the same ids, so nothing is twice.
  ok(
    t,
    await central.api('POST', '/api/accounts/acc-alma/deposits', { id: 'indbetaling-efter-backup', amount_ore: 5_000 }),
    201,
  );
  ok(t, await central.api('POST', `/api/cards/${CARD_BO}/block`), 204);
  ok(t, await central.api('PUT', '/api/accounts/acc-alma', { first_name: 'Alma', sites: [SITE], limits }), 204);
  await settled(central, site);
  // The waiting sale is booked by itself once its money is there.
  await until(
    async () => ((await booked()).some((r) => r.id === big) ? true : undefined),
    'the waiting sale booked',
    30_000,
  );
  await settled(central, site);
  const all = await booked();
  t.deepEqual(all.map((r) => r.id).sort(), [...atSite].sort(), 'every sale and void of the site is at central');
  t.true(
    all.every((r) => r.n === 1),
    'each exactly once',
  );
  const again = (await central.api('GET', '/api/restore-report')).body;
  t.deepEqual(
    [again.entries, again.cards, again.accounts, again.refused],
    [[], [], [], []],
    'nothing left to enter or to book',
  );
  t.is(await almaAtCentral(), almaAtSite);
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, almaAtSite);
  t.is(
    (await central.api('GET', '/api/accounts/acc-bo')).body.balance_ore,
    site.ledger.accounts.getAccount('acc-bo')?.balance_ore,
  );
  t.is(site.ledger.accounts.getCard(CARD_BO)?.state, 'blocked');
  const both = await until(
    async () => {
      const s = await shares(central, site);
      return JSON.stringify(s.here) === JSON.stringify(s.there) && Object.keys(s.here).length > 0 ? s : undefined;
    },
    'the shares agree',
    30_000,
  );
  t.deepEqual(both.here, both.there, 'what the site may spend is what central counts it holding');

  // The link runs on: a new sale reaches central once.
  const next = await sell(site, reader, CARD_ALMA);
  await settled(central, site);
  const [once] = await restored.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM entries WHERE id = $1', [next]);
  t.is(once?.n, 1);
  t.deepEqual(await central.service.central.money.verify(), []);
  t.deepEqual(site.ledger.reports.verify(), []);
});

test('central restored and making new changes before the site is back: the site sees the log is not the one it followed, and takes the new changes', async (t) => {
  t.timeout(120_000);
  const { central, site, door, dbUrl, dump } = await linked(t);
  await settled(central, site);
  await run('pg_dump', ['--format=custom', `--file=${dump}`, dbUrl]);
  // After the backup the site makes nothing of its own (nothing for central to miss on the way
  // up); it only learns a deposit of central's.
  ok(t, await central.api('POST', '/api/accounts/acc-bo/deposits', { id: 'tabt-indbetaling', amount_ore: 1_000 }), 201);
  await settled(central, site);
  const cursor = (site.ledger.db.prepare('SELECT down_cursor FROM link_state').get() as { down_cursor: number })
    .down_cursor;

  // Restored; the site kept away while central makes new changes under the same sequence numbers
  // the site has already applied.
  door.shut = true;
  const db = await restoreDump(t, central, dbUrl, dump);
  await central.restart();
  for (const [n, amount_ore] of [200, 300, 400].entries())
    ok(t, await central.api('POST', '/api/accounts/acc-bo/deposits', { id: `ny-indbetaling-${n}`, amount_ore }), 201);
  const [row] = await db.query<{ down_seq: number }>('SELECT down_seq FROM sites WHERE id = $1', [SITE]);
  t.true((row?.down_seq ?? 0) >= cursor, "central's log reaches past the site's cursor again (numbers reused)");
  door.shut = false;

  // The site is back: its cursor's mark is not central's; it is resynced and has the new deposits.
  await until(
    async () => {
      const [r] = await db.query<{ n: number }>(
        'SELECT COUNT(*)::int AS n FROM link_resyncs WHERE site_id = $1 AND done_at IS NOT NULL',
        [SITE],
      );
      return r && r.n > 0 ? true : undefined;
    },
    'the site resynced',
    30_000,
  );
  await settled(central, site);
  const ids = (
    site.ledger.db.prepare("SELECT id FROM entries WHERE account_id = 'acc-bo' AND kind = 'deposit'").all() as {
      id: string;
    }[]
  ).map((r) => r.id);
  for (const n of [0, 1, 2]) t.true(ids.includes(`ny-indbetaling-${n}`), `new deposit ${n} at the site`);
  const report = (await central.api('GET', '/api/restore-report')).body;
  t.deepEqual(
    report.entries.map((e: { id: string }) => e.id),
    ['tabt-indbetaling'],
    'the lost deposit, and only it',
  );
  t.deepEqual([report.cards, report.accounts], [[], []]);
  ok(t, await central.api('POST', '/api/accounts/acc-bo/deposits', { id: 'tabt-indbetaling', amount_ore: 1_000 }), 201);
  await settled(central, site);
  const bo = (await central.api('GET', '/api/accounts/acc-bo')).body.balance_ore as number;
  t.is(bo, 10_000 + 1_000 + 900);
  t.is(site.ledger.accounts.getAccount('acc-bo')?.balance_ore, bo);
  const both = await until(
    async () => {
      const s = await shares(central, site);
      return JSON.stringify(s.here) === JSON.stringify(s.there) ? s : undefined;
    },
    'the shares agree',
    30_000,
  );
  t.deepEqual(both.here, both.there);
  t.deepEqual(await central.service.central.money.verify(), []);
  t.deepEqual(site.ledger.reports.verify(), []);
});
