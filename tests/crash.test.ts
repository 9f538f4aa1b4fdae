import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Ledger } from '@kantine/gateway';
import type { Decision } from '@kantine/protocol';
import test from 'ava';
import { LoadReaders } from './helpers/load-readers.ts';
import { makeLoadSite } from './helpers/load-site.ts';
import { killHard, spawnGateway, stopGracefully } from './helpers/process.ts';

const SITE = 'crashskolen';
const READERS = 4;
const PRICE_ORE = 100;
const START_ORE = 1_000_000;
const KILLS = 3;

test('a gateway killed with kill -9 during a burst of taps loses no answered tap and charges none twice', async (t) => {
  // One till per reader, each with a standing basket, so every tap is a sale.
  const site = await makeLoadSite({ site: SITE, readers: READERS, price_ore: PRICE_ORE, balance_ore: START_ORE });
  const { database, configPath } = site;

  let gateway: ChildProcess = await spawnGateway(configPath);
  const load = new LoadReaders(site, SITE);
  t.teardown(async () => {
    await load.close();
    await killHard(gateway);
    rmSync(site.dir, { recursive: true, force: true });
  });
  await load.connect(READERS);
  load.start();

  const answeredBeforeKill: Decision[][] = [];
  for (let k = 0; k < KILLS; k++) {
    const runMs = 300 + Math.floor(Math.random() * 700);
    await new Promise((res) => setTimeout(res, runMs));
    answeredBeforeKill.push(load.answered());
    await killHard(gateway);
    t.log(`kill ${k + 1} after ${runMs} ms; ${answeredBeforeKill.at(-1)?.length} taps answered so far`);
    gateway = await spawnGateway(configPath);
  }
  await load.stop();
  // After the last restart, every tap not yet answered is re-sent with its own id until it is.
  await load.answerAll();
  load.repeatSome();
  await new Promise((res) => setTimeout(res, 300));
  await stopGracefully(gateway);

  const ledger = new Ledger(database, { now: () => new Date() });
  t.teardown(() => ledger.close());
  const entryByTap = new Map(
    (
      ledger.db.prepare("SELECT tap_id, id FROM entries WHERE kind = 'purchase'").all() as {
        tap_id: string;
        id: string;
      }[]
    ).map((e) => [e.tap_id, e.id]),
  );
  let approved = 0;
  let stale = 0;
  let sent = 0;
  for (const r of load.readers) {
    sent += r.sent.size;
    let approvedHere = 0;
    for (const [tapId, ds] of r.decisions) {
      const first = ds[0] as Decision;
      for (const d of ds) t.deepEqual(d, first, 'every answer for one tap id is the same decision');
      if (first.outcome === 'declined' && first.code === 'tap_stale') {
        // Decided only after the readers' answer timeout (it waited out a kill): a real reader
        // had shown "no answer", so it must not charge (issue 16, finding 19).
        t.false(entryByTap.has(tapId), 'a stale tap charges nothing');
        stale++;
        continue;
      }
      t.is(first.outcome, 'approved');
      t.is(entryByTap.get(tapId), first.entry_id, 'an answered sale is in the ledger, once');
      approvedHere++;
    }
    approved += approvedHere;
    t.is(
      ledger.accounts.getAccount(site.accountId(load.readers.indexOf(r)))?.balance_ore,
      START_ORE - approvedHere * PRICE_ORE,
    );
  }
  t.is(entryByTap.size, approved, 'no sale in the ledger that nobody was answered for');
  t.is(approved + stale, sent, 'every tap sent was decided in the end');
  t.deepEqual(ledger.reports.verify(), []);
  for (const before of answeredBeforeKill) for (const d of before) t.is(entryByTap.get(d.tap_id), d.entry_id);
  t.log(`${sent} taps (${stale} stale), ${KILLS} kills, all answered taps durable`);
});
