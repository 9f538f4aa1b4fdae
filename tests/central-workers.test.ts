/**
 * Scale-out: two central workers, real processes, share the sites' traffic through a shared
 * subscription on the Mosquitto at 127.0.0.1:1883 and one Postgres. One worker is killed with
 * `kill -9` mid-run; the other carries on, and nothing is lost or booked twice.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Central, openPostgres } from '@kantine/central';
import { hashSecret } from '@kantine/protocol/credentials';
import test from 'ava';
import { freshDatabase } from './helpers/postgres.ts';
import { freePort, killHard, spawnCentral, stopGracefully } from './helpers/process.ts';
import { startSite } from './helpers/site.ts';
import { eventually, until } from './helpers/wait.ts';

const MOSQUITTO = process.env.KANTINE_TEST_MQTT ?? 'mqtt://127.0.0.1:1883';
const CARD = '04000000002A01';
const SALES = 60;

test('two central workers share the link on Mosquitto and Postgres; one killed mid-run, nothing lost or doubled', async (t) => {
  t.timeout(180_000);
  const dbUrl = await freshDatabase(t, 'workers');
  const run = randomBytes(3).toString('hex');
  const siteId = `workers-${run}`; // its own topics on the shared broker
  const secret = `workers-site-secret-${run}-0123456789`;
  const dir = mkdtempSync(join(tmpdir(), 'kantine-workers-'));

  const db = await openPostgres(dbUrl);
  const books = new Central(db, { now: () => new Date() }, () => {});
  await books.migrate();
  await books.sites.put({
    id: siteId,
    name: 'Workers',
    place_kinds: ['school'],
    secret_hash: await hashSecret(secret),
  });
  await books.accounts.put({ id: 'acc-alma', first_name: 'Alma', sites: [siteId] });
  await books.cards.put({ uid: CARD, kind: 'legacy' });
  await books.cards.activate(CARD, 'acc-alma');
  await books.money.deposit({ account_id: 'acc-alma', amount_ore: 100_000 });
  const { token } = await books.tokens.add('finance', 'workers-test');

  const workers: ChildProcess[] = [];
  const httpPorts: number[] = [];
  for (let i = 0; i < 2; i++) {
    const path = join(dir, `central-${i}.json`);
    const port = await freePort();
    httpPorts.push(port);
    writeFileSync(
      path,
      JSON.stringify({
        database: { url: dbUrl },
        mqtt: { mode: 'external', url: MOSQUITTO, share_group: `kantine-test-${run}` },
        http: { host: '127.0.0.1', port },
      }),
    );
    workers.push(await spawnCentral(path));
  }
  t.teardown(async () => {
    for (const w of workers) await killHard(w);
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const site = await startSite(t, {
    site: siteId,
    linked: true,
    config: { central: { url: MOSQUITTO, secret } },
  });
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-alma')?.balance_ore === 100_000 ? true : undefined),
    15_000,
    'the account at the site',
  );
  const reader = await site.reader('laeser-1');
  const approved: string[] = [];
  for (let i = 0; i < SALES; i++) {
    if (i === SALES / 2) {
      // Both workers have had their part of the site's messages (the shared subscription).
      for (const port of httpPorts) {
        const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { link_messages: number };
        t.true(health.link_messages > 0, `worker on ${port} handled link messages`);
      }
      await killHard(workers[0] as ChildProcess);
      t.log(`worker 0 killed after ${i} sales`);
    }
    // A deposit now and then at central, through whichever worker is alive.
    if (i % 10 === 5) {
      const port = httpPorts[i < SALES / 2 ? 0 : 1];
      const res = await fetch(`http://127.0.0.1:${port}/api/accounts/acc-alma/deposits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ id: `dep-${i}`, amount_ore: 1_000 }),
      });
      t.is(res.status, 201);
    }
    site.ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }]);
    const result = await reader.tap(CARD);
    if (result.kind === 'decision' && result.decision.outcome === 'approved') approved.push(result.decision.tap_id);
  }
  t.is(approved.length, SALES);

  const expected = 100_000 + 6 * 1_000 - SALES * 300;
  await until(
    async () => ((await books.accounts.get('acc-alma'))?.balance_ore === expected ? true : undefined),
    'every sale and deposit at central',
    30_000,
  );
  // And the deposits made through the workers reached the site.
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-alma')?.balance_ore === expected ? true : undefined),
    15_000,
    'the site agrees',
  );
  const purchases = await db.query<{ tap_id: string }>(
    "SELECT tap_id FROM entries WHERE account_id = 'acc-alma' AND kind = 'purchase'",
  );
  t.is(purchases.length, SALES, 'each sale once at central');
  t.deepEqual(new Set(purchases.map((p) => p.tap_id)), new Set(approved));
  t.deepEqual(await books.money.verify(), []);
  t.deepEqual(site.ledger.reports.verify(), []);
  await stopGracefully(workers[1] as ChildProcess);
});

test('a Postgres connection killed while idle is reported and replaced, not fatal', async (t) => {
  const dbUrl = await freshDatabase(t, 'idle');
  const failures: string[] = [];
  const db = await openPostgres(dbUrl, { onIdleError: (err) => failures.push(err.message) });
  t.teardown(() => db.close());
  const [mine] = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const admin = await openPostgres(dbUrl);
  t.teardown(() => admin.close());
  // What a Postgres restart or DROP DATABASE … WITH (FORCE) does to the pool's idle connection.
  await admin.query('SELECT pg_terminate_backend($1)', [mine?.pid]);
  await until(async () => (failures.length > 0 ? true : undefined), 'the pool reports the killed connection');
  t.regex(failures[0] ?? '', /terminating connection/);
  const [again] = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  t.not(again?.pid, mine?.pid, 'a new connection serves the next query');
});
