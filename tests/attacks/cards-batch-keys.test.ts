/**
 * A card batch's SDM master key: it never changes once registered, a site gets it only when it
 * may meet the batch's cards, it lies on disk readable by the gateway's user alone, and the demo's
 * batches (keys made from public text) are refused outside the demo.
 */

import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, Ledger, parseGatewayConfig, systemClock } from '@kantine/gateway';
import test, { type ExecutionContext } from 'ava';
import { siteLogin, startCentral, type TestCentral } from '../helpers/central.ts';
import { silent } from '../helpers/site.ts';
import { until } from '../helpers/wait.ts';

const KEY_1 = '11'.repeat(16);
const KEY_2 = '22'.repeat(16);

/** What central sends a site, read as the site (a raw login with its secret). */
async function downOf(t: ExecutionContext, central: TestCentral, site: string, secret: string) {
  const { client, got } = await siteLogin(t, central, site, secret);
  // On (re)connect a site says where it stands: central re-sends all it has not acknowledged.
  await client.publishAsync(
    `kantine/link/${site}/up`,
    JSON.stringify({ v: 1, t: 'hello', down_cursor: 0, up_seq: 0 }),
    { qos: 1 },
  );
  return async () => {
    await until(async () => (got.some((m) => m.t === 'ack') ? true : undefined), 'central answers the hello');
    // Each change once, by its place in the log (central also re-sends what the site has not acknowledged).
    const bySeq = new Map(got.flatMap((m) => (m.t === 'changes' ? m.changes : [])).map((c) => [c.seq, c]));
    return [...bySeq.values()].sort((x, y) => x.seq - y.seq);
  };
}

test('re-registering a batch with another key is refused 409 and re-keys no till', async (t) => {
  const central = await startCentral(t);
  const a = await central.addSite('skole-a');
  t.is((await central.api('PUT', '/api/accounts/acc-alma', { first_name: 'Alma', sites: ['skole-a'] })).status, 204);
  t.is((await central.api('PUT', '/api/batches/KOMMUNE-1', { sdm_master: KEY_1 })).status, 204);
  t.is((await central.api('PUT', '/api/cards/04E0000000AA01', { kind: 'ntag424', batch_id: 'KOMMUNE-1' })).status, 204);
  t.is((await central.api('POST', '/api/cards/04E0000000AA01/activate', { account_id: 'acc-alma' })).status, 204);

  t.is(
    (await central.api('PUT', '/api/batches/KOMMUNE-1', { sdm_master: KEY_1 })).status,
    204,
    'the same key: idempotent',
  );
  const other = await central.api('PUT', '/api/batches/KOMMUNE-1', { sdm_master: KEY_2 });
  t.is(other.status, 409);
  t.is(other.body.code, 'batch_key_conflict');

  const changes = await (await downOf(t, central, 'skole-a', a.secret))();
  const keys = changes.flatMap((c) => (c.kind === 'batch' ? [c.batch.sdm_master] : []));
  t.deepEqual(keys, [KEY_1], 'the site got the batch once, with its one key');
});

test('a gateway refuses to change the key of a batch it knows', (t) => {
  const ledger = new Ledger(':memory:', systemClock);
  t.teardown(() => ledger.close());
  ledger.accounts.putBatch({ id: 'KOMMUNE-1', sdm_master: Buffer.from(KEY_1, 'hex') });
  ledger.accounts.putBatch({ id: 'KOMMUNE-1', sdm_master: Buffer.from(KEY_1, 'hex') });
  const err = t.throws(() => ledger.accounts.putBatch({ id: 'KOMMUNE-1', sdm_master: Buffer.from(KEY_2, 'hex') }));
  t.is((err as { code?: string }).code, 'batch_key_conflict');
  t.is(Buffer.from(ledger.accounts.getBatch('KOMMUNE-1')?.sdm_master ?? []).toString('hex'), KEY_1);
});

test('a site gets only the batches whose cards it may meet: its stock, and the cards of accounts it serves', async (t) => {
  const central = await startCentral(t);
  const a = await central.addSite('skole-a');
  const b = await central.addSite('skole-b');
  for (const [id, key] of [
    ['STOCK-A', KEY_1],
    ['KORT-B', KEY_2],
    ['ANDEN', '33'.repeat(16)],
  ] as const)
    t.is((await central.api('PUT', `/api/batches/${id}`, { sdm_master: key })).status, 204);
  const stock = await central.api('POST', '/api/batches/STOCK-A/stock', {
    site: 'skole-a',
    cards: [{ uid: '04E0000000AA02', card_number: '0751-0000-0001' }],
  });
  t.is(stock.status, 200, JSON.stringify(stock.body));
  t.is((await central.api('PUT', '/api/accounts/acc-bo', { first_name: 'Bo', sites: ['skole-b'] })).status, 204);
  t.is((await central.api('PUT', '/api/cards/04E0000000BB01', { kind: 'ntag424', batch_id: 'KORT-B' })).status, 204);
  t.is((await central.api('POST', '/api/cards/04E0000000BB01/activate', { account_id: 'acc-bo' })).status, 204);

  const batchesAt = async (site: string, secret: string) =>
    (await (await downOf(t, central, site, secret))()).flatMap((c) => (c.kind === 'batch' ? [c.batch.id] : []));
  t.deepEqual(await batchesAt('skole-a', a.secret), ['STOCK-A']);
  t.deepEqual(await batchesAt('skole-b', b.secret), ['KORT-B']);

  // When skole-a starts serving Bo, it meets his card: it gets its batch then, before the card.
  t.is(
    (await central.api('PUT', '/api/accounts/acc-bo', { first_name: 'Bo', sites: ['skole-a', 'skole-b'] })).status,
    204,
  );
  const later = await (await downOf(t, central, 'skole-a', a.secret))();
  const kinds = later.filter((c) => c.kind === 'batch' || c.kind === 'card').map((c) => c.kind);
  t.deepEqual(kinds, ['batch', 'batch', 'card']);
});

test('the gateway’s database, its WAL and SHM, and its key files are readable by its user only', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'kantine-perm-')), 'data');
  const gateway = new Gateway({
    config: parseGatewayConfig({
      site: { id: 'skole-a', name: 'Skole A' },
      database: join(dir, 'gateway.db'),
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
    }),
    log: silent,
  });
  await gateway.start();
  t.teardown(() => gateway.stop());
  gateway.ledger.accounts.putBatch({ id: 'KOMMUNE-1', sdm_master: Buffer.from(KEY_1, 'hex') });
  const mode = (f: string) => statSync(f).mode & 0o777;
  t.is(mode(dir), 0o700);
  for (const f of ['gateway.db', 'gateway.db-wal', 'gateway.db-shm']) t.is(mode(join(dir, f)), 0o600, f);
  t.is(mode(join(dir, 'tls')), 0o700);
  for (const f of ['site-ca.key', 'gateway.key']) t.is(mode(join(dir, 'tls', f)), 0o600, f);
});

test('a database an older gateway left world-readable is made private when the ledger opens it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-perm-'));
  mkdirSync(join(dir, 'data'), { mode: 0o755 });
  writeFileSync(join(dir, 'data', 'gateway.db'), '', { mode: 0o644 });
  const ledger = new Ledger(join(dir, 'data', 'gateway.db'), systemClock);
  t.teardown(() => ledger.close());
  t.is(statSync(join(dir, 'data', 'gateway.db')).mode & 0o777, 0o600);
});

test('a DEMO- batch is refused outside the demo, by central and by a gateway', async (t) => {
  const central = await startCentral(t);
  const res = await central.api('PUT', '/api/batches/DEMO-2', { sdm_master: KEY_1 });
  t.is(res.status, 400);
  t.is(res.body.code, 'demo_batch_refused');

  const ledger = new Ledger(':memory:', systemClock);
  t.teardown(() => ledger.close());
  const err = t.throws(() => ledger.accounts.putBatch({ id: 'DEMO-1', sdm_master: Buffer.from(KEY_1, 'hex') }));
  t.is((err as { code?: string }).code, 'demo_batch_refused');
  t.is(ledger.accounts.getBatch('DEMO-1'), undefined);
  // The demo sets the flag (demo/src/demo.ts).
  ledger.accounts.allowDemoBatches = true;
  ledger.accounts.putBatch({ id: 'DEMO-1', sdm_master: Buffer.from(KEY_1, 'hex') });
  t.truthy(ledger.accounts.getBatch('DEMO-1'));
});
