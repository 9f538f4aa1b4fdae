/**
 * The real crash test of the link: a gateway and a central, each a real process, under load from
 * readers, each killed with `kill -9` at random moments, several times. Afterwards, from both
 * databases: every answered sale is at the site and at central exactly once, nothing else is,
 * and both sets of books add up to the same balances.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Central, openPostgres } from '@kantine/central';
import { Ledger } from '@kantine/gateway';
import type { Decision } from '@kantine/protocol';
import { hashSecret } from '@kantine/protocol/credentials';
import test from 'ava';
import { LoadReaders } from './helpers/load-readers.ts';
import { makeLoadSite } from './helpers/load-site.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort, killHard, spawnCentral, spawnGateway, stopGracefully } from './helpers/process.ts';
import { until } from './helpers/wait.ts';

const SITE = 'linkcrash';
const READERS = 3;
const PRICE_ORE = 100;
const START_ORE = 1_000_000;
const KILLS = 6; // three of each, in a random order
const SITE_SECRET = 'crash-test-site-secret-0123456789';

test('gateway and central killed with kill -9 under load: every answered sale at both ends exactly once', async (t) => {
  t.timeout(180_000);
  const dbUrl = await freshDatabase(t, 'crash');
  const centralPort = await freePort();
  // Central's link CA: made by central at its first start, pinned by the site.
  const tlsDir = mkdtempSync(join(tmpdir(), 'kantine-central-tls-'));
  const site = await makeLoadSite({
    site: SITE,
    readers: READERS,
    price_ore: PRICE_ORE,
    balance_ore: START_ORE,
    linked: true,
    config: {
      central: {
        url: `mqtts://127.0.0.1:${centralPort}`,
        secret: SITE_SECRET,
        ca_file: join(tlsDir, 'central-ca.pem'),
      },
    },
  });
  const centralConfig = join(site.dir, 'central.json');
  writeFileSync(
    centralConfig,
    JSON.stringify({
      database: { url: dbUrl },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: centralPort, tls_dir: tlsDir },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );

  // Central's books, as the office would set them up: the site, the children, cards and money.
  const db = await openPostgres(dbUrl);
  const books = new Central(db, { now: () => new Date() }, () => {});
  await books.migrate();
  await books.sites.put({ id: SITE, name: SITE, place_kinds: ['school'], secret_hash: await hashSecret(SITE_SECRET) });
  for (let i = 0; i < READERS; i++) {
    await books.accounts.put({ id: site.accountId(i), first_name: `Barn ${i}`, sites: [SITE] });
    await books.cards.put({ uid: site.cardUid(i), kind: 'legacy' });
    await books.cards.activate(site.cardUid(i), site.accountId(i));
    await books.money.deposit({ account_id: site.accountId(i), amount_ore: START_ORE });
  }

  let central: ChildProcess = await spawnCentral(centralConfig);
  let gateway: ChildProcess = await spawnGateway(site.configPath);
  const load = new LoadReaders(site, SITE);
  t.teardown(async () => {
    await load.close();
    await killHard(gateway);
    await killHard(central);
    await db.close();
    rmSync(site.dir, { recursive: true, force: true });
    rmSync(tlsDir, { recursive: true, force: true });
  });
  // The children reach the site over the link before the first tap.
  await until(async () => {
    const [row] = await db.query<{ down_acked: number; down_seq: number }>(
      'SELECT down_acked, down_seq FROM sites WHERE id = $1',
      [SITE],
    );
    return row && row.down_seq > 0 && row.down_acked === row.down_seq ? true : undefined;
  }, 'the site has its accounts');
  await load.connect(READERS);
  load.start();

  const targets = Array.from({ length: KILLS }, (_, k) => (k % 2 === 0 ? 'central' : 'gateway'));
  targets.sort(() => Math.random() - 0.5);
  for (const [k, target] of targets.entries()) {
    const runMs = 300 + Math.floor(Math.random() * 900);
    await new Promise((res) => setTimeout(res, runMs));
    if (target === 'central') {
      await killHard(central);
      t.log(`kill ${k + 1}: central after ${runMs} ms (${load.answered().length} taps answered)`);
      central = await spawnCentral(centralConfig);
    } else {
      await killHard(gateway);
      t.log(`kill ${k + 1}: gateway after ${runMs} ms (${load.answered().length} taps answered)`);
      gateway = await spawnGateway(site.configPath);
    }
  }
  await load.stop();
  await load.answerAll();
  load.repeatSome();

  const answered = load.answered();
  const approved = answered.filter((d) => d.outcome === 'approved');
  // Central catches up with everything the site sold (the link re-sends until acknowledged).
  await until(
    async () => {
      const [row] = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM entries WHERE origin = $1 AND kind = 'purchase'",
        [SITE],
      );
      return row && row.n >= approved.length ? true : undefined;
    },
    'every sale at central',
    60_000,
  );
  await stopGracefully(gateway);
  await stopGracefully(central);

  // Every tap got one decision however often it was sent, and it was a sale (ample money).
  for (const r of load.readers) {
    for (const ds of r.decisions.values()) for (const d of ds) t.deepEqual(d, ds[0] as Decision);
  }
  // Every tap was a sale (ample money), unless it was decided after the reader's answer timeout —
  // it waited out a kill — and then it is declined tap_stale and charges nothing (checked below:
  // the site and central hold exactly the approved sales).
  const stale = answered.filter((d) => d.outcome === 'declined' && d.code === 'tap_stale');
  t.is(approved.length + stale.length, answered.length, 'every tap was a sale or declined as stale');
  t.is(
    answered.length,
    load.readers.reduce((n, r) => n + r.sent.size, 0),
    'every tap sent was answered',
  );

  const ledger = new Ledger(site.database, { now: () => new Date() });
  t.teardown(() => ledger.close());
  const atSite = new Map(
    (
      ledger.db.prepare("SELECT tap_id, id FROM entries WHERE kind = 'purchase'").all() as {
        tap_id: string;
        id: string;
      }[]
    ).map((e) => [e.tap_id, e.id]),
  );
  const atCentral = await db.query<{ tap_id: string; id: string }>(
    "SELECT tap_id, id FROM entries WHERE origin = $1 AND kind = 'purchase'",
    [SITE],
  );
  t.is(atSite.size, approved.length, 'the site holds exactly the answered sales');
  t.is(atCentral.length, approved.length, 'central holds exactly the answered sales');
  const centralByTap = new Map(atCentral.map((e) => [e.tap_id, e.id]));
  for (const d of approved) {
    t.is(atSite.get(d.tap_id), d.entry_id);
    t.is(centralByTap.get(d.tap_id), d.entry_id);
  }
  for (const d of stale) {
    t.false(atSite.has(d.tap_id), 'a stale tap charges nothing at the site');
    t.false(centralByTap.has(d.tap_id), 'nor at central');
  }
  t.log(`${answered.length} taps (${stale.length} stale), all answered sales at both ends once`);
  for (let i = 0; i < READERS; i++) {
    const sold = approved.filter((d) => d.reader_id === site.readerId(i)).length;
    const expected = START_ORE - sold * PRICE_ORE;
    t.is(ledger.accounts.getAccount(site.accountId(i))?.balance_ore, expected, `site balance ${i}`);
    t.is((await books.accounts.get(site.accountId(i)))?.balance_ore, expected, `central balance ${i}`);
  }
  t.deepEqual(ledger.reports.verify(), []);
  t.deepEqual(await books.money.verify(), []);
  t.log(`${approved.length} sales, ${KILLS} kills of gateway or central; both books agree`);
});
