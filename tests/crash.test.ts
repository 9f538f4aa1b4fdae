import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { killHard, Ledger, makeLoadSite, spawnGateway, stopGracefully } from '@kantine/gateway';
import { type Decision, readerTopic, type Tap } from '@kantine/protocol';
import test from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import { v7 as uuidv7 } from 'uuid';
import { eventually } from './helpers/wait.ts';

const SITE = 'crashskolen';
const READERS = 4;
const PRICE_ORE = 100;
const START_ORE = 1_000_000;
const KILLS = 3;

interface Reader {
  id: string;
  uid: string;
  client: MqttClient;
  decisions: Map<string, Decision[]>;
  sent: Map<string, Tap>;
}

test('a gateway killed with kill -9 during a burst of taps loses no answered tap and charges none twice', async (t) => {
  // One till per reader, each with a standing basket, so every tap is a sale.
  const site = await makeLoadSite({ site: SITE, readers: READERS, price_ore: PRICE_ORE, balance_ore: START_ORE });
  const { database, configPath, port } = site;

  let gateway: ChildProcess = await spawnGateway(configPath);
  const readers: Reader[] = [];
  t.teardown(async () => {
    for (const r of readers) await r.client.endAsync(true);
    await killHard(gateway);
    rmSync(site.dir, { recursive: true, force: true });
  });

  for (let i = 0; i < READERS; i++) {
    const id = site.readerId(i);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: id,
      username: id,
      password: site.secret,
      reconnectPeriod: 100,
      protocolVersion: 4,
    });
    const reader: Reader = {
      id,
      uid: site.cardUid(i),
      client,
      decisions: new Map(),
      sent: new Map(),
    };
    client.on('message', (_topic, payload) => {
      const d = JSON.parse(payload.toString()) as Decision;
      const list = reader.decisions.get(d.tap_id) ?? [];
      list.push(d);
      reader.decisions.set(d.tap_id, list);
    });
    await client.subscribeAsync(readerTopic(SITE, id, 'decision'), { qos: 1 });
    client.on(
      'connect',
      () => void client.subscribeAsync(readerTopic(SITE, id, 'decision'), { qos: 1 }).catch(() => undefined),
    );
    readers.push(reader);
  }

  const send = (r: Reader, tap: Tap) => {
    if (r.client.connected) r.client.publish(readerTopic(SITE, r.id, 'tap'), JSON.stringify(tap), { qos: 1 });
  };
  // Each reader taps as fast as it gets answers; an unanswered tap is left behind (as a real
  // reader's child would walk away) and re-sent at the end.
  let loading = true;
  const load = readers.map(async (r) => {
    while (loading) {
      const tap: Tap = {
        v: 1,
        tap_id: uuidv7(),
        reader_id: r.id,
        card: { kind: 'legacy', uid: r.uid },
        read_at: new Date().toISOString(),
        attempt: 1,
      };
      r.sent.set(tap.tap_id, tap);
      send(r, tap);
      const until = Date.now() + 300;
      while (loading && !r.decisions.has(tap.tap_id) && Date.now() < until)
        await new Promise((res) => setTimeout(res, 2));
    }
  });

  const answeredBeforeKill: Decision[][] = [];
  for (let k = 0; k < KILLS; k++) {
    const runMs = 300 + Math.floor(Math.random() * 700);
    await new Promise((res) => setTimeout(res, runMs));
    answeredBeforeKill.push(readers.flatMap((r) => [...r.decisions.values()].map((ds) => ds[0] as Decision)));
    await killHard(gateway);
    t.log(`kill ${k + 1} after ${runMs} ms; ${answeredBeforeKill.at(-1)?.length} taps answered so far`);
    gateway = await spawnGateway(configPath);
  }
  loading = false;
  await Promise.all(load);

  // After the last restart, every tap not yet answered is re-sent with its own id until it is.
  await eventually(
    () => {
      let missing = 0;
      for (const r of readers) {
        for (const tap of r.sent.values()) {
          if (!r.decisions.has(tap.tap_id)) {
            missing++;
            send(r, { ...tap, attempt: 2 });
          }
        }
      }
      return missing === 0 ? true : undefined;
    },
    30_000,
    'every tap answered after the restarts',
  );
  // And some answered ones again: a repeat must get the same decision and no new charge.
  for (const r of readers) for (const tap of [...r.sent.values()].slice(0, 5)) send(r, { ...tap, attempt: 3 });
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
  let sent = 0;
  for (const r of readers) {
    sent += r.sent.size;
    let approvedHere = 0;
    for (const [tapId, ds] of r.decisions) {
      const first = ds[0] as Decision;
      for (const d of ds) t.deepEqual(d, first, 'every answer for one tap id is the same decision');
      t.is(first.outcome, 'approved');
      t.is(entryByTap.get(tapId), first.entry_id, 'an answered sale is in the ledger, once');
      approvedHere++;
    }
    approved += approvedHere;
    t.is(ledger.getAccount(site.accountId(readers.indexOf(r)))?.balance_ore, START_ORE - approvedHere * PRICE_ORE);
  }
  t.is(entryByTap.size, approved, 'no sale in the ledger that nobody was answered for');
  t.is(approved, sent, 'every tap sent was decided in the end');
  t.deepEqual(ledger.verify(), []);
  for (const before of answeredBeforeKill) for (const d of before) t.is(entryByTap.get(d.tap_id), d.entry_id);
  t.log(`${sent} taps, ${KILLS} kills, all answered taps durable`);
});
