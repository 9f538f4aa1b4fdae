/**
 * The link over real MQTT: central on its embedded defaults (PGlite, its own aedes broker) and a
 * real gateway logged in to it as its site. Accounts and cards come down, sales go up, a block
 * reaches the till, and the site sells on while central is away.
 */

import { readFileSync } from 'node:fs';
import type { CentralState } from '@kantine/gateway';
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { startSite, type TestSite } from './helpers/site.ts';
import { eventually, until, waitForEvent } from './helpers/wait.ts';

const CARD = '04000000001A01';

/** Central with one site, one child (a CPR number, 100 kr, a UID card) and that site's gateway. */
async function linkedSite(t: ExecutionContext, siteId: string, persistent = false) {
  const central = await startCentral(t, {}, persistent);
  const link = await central.addSite(siteId);
  const ok = (r: { status: number; body: unknown }, status: number) => t.is(r.status, status, JSON.stringify(r.body));
  ok(
    await central.api('PUT', '/api/accounts/acc-alma', {
      first_name: 'Alma',
      last_name: 'Holm',
      cpr: '010203-1234',
      sites: [siteId],
    }),
    204,
  );
  ok(await central.api('PUT', `/api/cards/${CARD}`, { kind: 'legacy' }), 204);
  ok(await central.api('POST', `/api/cards/${CARD}/activate`, { account_id: 'acc-alma' }), 204);
  ok(await central.api('POST', '/api/accounts/acc-alma/deposits', { amount_ore: 10_000 }), 201);
  const site = await startSite(t, { site: siteId, linked: true, config: { central: link } });
  await eventually(() => (site.gateway.central.state === 'online' ? true : undefined), 10_000, 'linked');
  await eventually(
    () => (site.ledger.accounts.getAccount('acc-alma')?.balance_ore === 10_000 ? true : undefined),
    10_000,
    'the account and its deposit at the site',
  );
  return { central, site };
}

async function sell(site: TestSite, reader: Awaited<ReturnType<TestSite['reader']>>) {
  site.ledger.baskets.setBasket('till-1', [{ product_id: 'ostehoeps', quantity: 1 }]);
  const result = await reader.tap(CARD);
  if (result.kind !== 'decision') throw new Error(`no decision: ${JSON.stringify(result)}`);
  return result;
}

async function metrics(site: TestSite): Promise<string> {
  return (await fetch(`${site.http}/metrics`)).text();
}

async function centralBalance(central: TestCentral): Promise<number> {
  const res = await central.api('GET', '/api/accounts/acc-alma');
  return res.body.balance_ore as number;
}

test('a linked site gets accounts and cards from central, and its sales reach central once', async (t) => {
  const { central, site } = await linkedSite(t, 'linkskolen');
  t.is(site.ledger.accounts.getCard(CARD)?.state, 'active');
  const reader = await site.reader('laeser-1');

  const result = await sell(site, reader);
  t.is(result.decision.outcome, 'approved');
  const entries = await until(async () => {
    const res = await central.api('GET', '/api/accounts/acc-alma/entries');
    const list = res.body.entries as { kind: string; amount_ore: number; origin: string; tap_id: string }[];
    return list.some((e) => e.kind === 'purchase') ? list : undefined;
  }, 'the sale at central');
  const purchases = entries.filter((e) => e.kind === 'purchase');
  t.is(purchases.length, 1);
  t.like(purchases[0], { amount_ore: -300, origin: 'linkskolen', tap_id: result.decision.tap_id });
  t.is(await centralBalance(central), 9_700);

  // CPR numbers stay at central: not in its API's answers, not on the site.
  const account = await central.api('GET', '/api/accounts/acc-alma');
  t.false('cpr' in account.body);
  t.false(JSON.stringify(site.ledger.accounts.getAccount('acc-alma')).includes('010203'));

  // A block made at central reaches the till.
  t.is((await central.api('POST', `/api/cards/${CARD}/block`)).status, 204);
  await eventually(
    () => (site.ledger.accounts.getCard(CARD)?.state === 'blocked' ? true : undefined),
    5_000,
    'block at site',
  );
  const blocked = await sell(site, reader);
  t.is(blocked.decision.code, 'card_blocked');
  t.is(await centralBalance(central), 9_700);
});

test('with central away the site sells on from its share and catches up when central is back', async (t) => {
  const { central, site } = await linkedSite(t, 'offlineskolen', true);
  const reader = await site.reader('laeser-1');

  const offline = waitForEvent<[CentralState]>(site.gateway, 'central', (s) => s.state === 'offline', 10_000);
  await central.stop();
  await offline;
  t.is(site.gateway.central.state, 'offline');
  const a = await sell(site, reader);
  const b = await sell(site, reader);
  t.is(a.decision.outcome, 'approved');
  t.is(b.decision.outcome, 'approved');
  t.is(site.ledger.accounts.getAccount('acc-alma')?.balance_ore, 9_400);
  // What monitoring sees meanwhile: the link down, the two sales waiting for central.
  const away = await metrics(site);
  t.regex(away, /^kantine_central_link_up 0$/m);
  t.regex(away, /^kantine_central_backlog 2$/m);

  await central.restart();
  await eventually(() => (site.gateway.central.state === 'online' ? true : undefined), 15_000, 'relinked');
  await until(async () => ((await centralBalance(central)) === 9_400 ? true : undefined), 'both sales at central');
  await until(async () => ((await metrics(site)).includes('\nkantine_central_backlog 0\n') ? true : undefined));
  t.regex(await metrics(site), /^kantine_central_link_up 1$/m);
  const entries = (await central.api('GET', '/api/accounts/acc-alma/entries')).body.entries as { kind: string }[];
  t.is(entries.filter((e) => e.kind === 'purchase').length, 2);
  t.deepEqual(await central.service.central.money.verify(), []);
});

test("central's broker lets a site in only with its own secret, and only on its own topics", async (t) => {
  const central = await startCentral(t);
  const a = await central.addSite('skole-a');
  await central.addSite('skole-b');
  const connect = (username: string, password: string) =>
    mqtt.connectAsync(central.url, {
      clientId: `kantine-site-${username}`, // a site's link client id is its own
      username,
      password,
      reconnectPeriod: 0,
      protocolVersion: 4,
      ca: readFileSync(central.ca_file),
    });

  const wrong = await t.throwsAsync(connect('skole-a', 'not-the-secret-at-all'));
  t.regex(String(wrong?.message), /Bad username or password/i);
  await t.throwsAsync(connect('skole-ukendt', a.secret));

  const client = await connect('skole-a', a.secret);
  t.teardown(() => client.endAsync(true));
  const own = await client.subscribeAsync('kantine/link/skole-a/down', { qos: 1 });
  t.is(own[0]?.qos, 1);
  // Another site's topic, or all of them: SUBACK 0x80.
  await t.throwsAsync(client.subscribeAsync('kantine/link/skole-b/down', { qos: 1 }), { message: /Subscribe error/ });
  await t.throwsAsync(client.subscribeAsync('kantine/link/+/down', { qos: 1 }), { message: /Subscribe error/ });
  // Publishing as another site closes the connection (MQTT 3.1.1 has no negative PUBACK).
  t.true(client.connected);
  const closed = waitForEvent(client, 'close');
  client.publish('kantine/link/skole-b/up', JSON.stringify({ v: 1, t: 'ack', down_cursor: 0 }), { qos: 1 });
  await closed;
  t.false(client.connected, 'the broker closed the connection');
});

test("central's API refuses bad input with a coded error and changes nothing", async (t) => {
  const central = await startCentral(t);
  await central.addSite('api-skolen');
  t.is((await central.api('PUT', '/api/accounts/acc-bo', { first_name: 'Bo', sites: ['api-skolen'] })).status, 204);
  t.is((await central.api('POST', '/api/accounts/acc-bo/deposits', { amount_ore: 500 })).status, 201);

  const refusals: [string, string, unknown, number, string][] = [
    ['PUT', '/api/accounts/Bad%20Id', { first_name: 'X', sites: [] }, 400, 'invalid_request'],
    ['PUT', '/api/accounts/acc-x', { first_name: 'X', sites: ['ingen-skole'] }, 404, 'not_found'],
    ['PUT', '/api/accounts/acc-x', { first_name: 'X', sites: [], cpr: '12345' }, 400, 'invalid_request'],
    ['PUT', '/api/accounts/acc-x', { first_name: 'X', sites: [], balance_ore: 5 }, 400, 'invalid_request'],
    ['POST', '/api/accounts/acc-bo/deposits', { amount_ore: -5 }, 400, 'invalid_request'],
    ['POST', '/api/accounts/acc-bo/deposits', { amount_ore: 1.5 }, 400, 'invalid_request'],
    ['POST', '/api/accounts/acc-bo/deposits', '{"amount_ore": 5', 400, 'invalid_request'],
    ['POST', '/api/accounts/acc-ingen/deposits', { amount_ore: 5 }, 404, 'not_found'],
    ['POST', '/api/accounts/acc-bo/withdrawals', { amount_ore: 501 }, 409, 'insufficient_balance'],
    ['PUT', '/api/cards/04000000001B02', { kind: 'ntag424' }, 400, 'invalid_request'],
    ['PUT', '/api/cards/04000000001B02', { kind: 'ntag424', batch_id: 'INGEN' }, 404, 'not_found'],
    ['PUT', '/api/cards/not-hex', { kind: 'legacy' }, 400, 'invalid_request'],
    ['PUT', '/api/batches/B-1', { sdm_master: 'abc' }, 400, 'invalid_request'],
    ['POST', '/api/cards/04000000001B02/activate', { account_id: 'acc-bo' }, 404, 'not_found'],
    ['POST', '/api/cards/04000000001B02/block', undefined, 404, 'not_found'],
    ['POST', '/api/sites/ingen/secret', undefined, 404, 'not_found'],
    ['GET', '/api/nothing-here', undefined, 404, 'not_found'],
  ];
  for (const [method, path, body, status, code] of refusals) {
    const res = await central.api(method, path, body);
    t.is(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    t.is(res.body?.code, code, `${method} ${path}`);
    t.true(Array.isArray(res.body?.details), `${method} ${path} has details`);
  }
  const account = await central.api('GET', '/api/accounts/acc-bo');
  t.is(account.body.balance_ore, 500);
  t.is((await central.api('GET', '/api/accounts/acc-bo/entries')).body.entries.length, 1);
  t.is((await central.api('GET', '/api/accounts/acc-x')).status, 404);
  t.deepEqual(await central.service.central.money.verify(), []);
});

test("central's API keeps the guardians' CPR numbers on the child's record, and gives them out masked only", async (t) => {
  const central = await startCentral(t);
  await central.addSite('familie-skolen');
  t.is(
    (await central.api('PUT', '/api/accounts/acc-ida', { first_name: 'Ida', sites: ['familie-skolen'] })).status,
    204,
  );
  const put = await central.api('PUT', '/api/accounts/acc-ida/guardian-cprs', { cprs: ['010180-1234', '0202805678'] });
  t.is(put.status, 204, JSON.stringify(put.body));
  const got = await central.api('GET', '/api/accounts/acc-ida/guardian-cprs');
  // (two set in one request have the same time: compared in either order)
  const byCpr = (a: { cpr_masked: string }, b: { cpr_masked: string }) => a.cpr_masked.localeCompare(b.cpr_masked);
  t.deepEqual([...got.body.guardians].sort(byCpr), [
    { cpr_masked: '010180-xxxx', person_id: null },
    { cpr_masked: '020280-xxxx', person_id: null },
  ]);
  t.is((await central.api('PUT', '/api/accounts/acc-ida/guardian-cprs', { cprs: ['0202805678'] })).status, 204);
  t.deepEqual((await central.api('GET', '/api/accounts/acc-ida/guardian-cprs')).body.guardians, [
    { cpr_masked: '020280-xxxx', person_id: null },
  ]);

  for (const [method, path, body, status] of [
    ['PUT', '/api/accounts/acc-ida/guardian-cprs', { cprs: ['1'] }, 400],
    ['PUT', '/api/accounts/acc-ida/guardian-cprs', { cprs: '0101801234' }, 400],
    ['PUT', '/api/accounts/acc-ingen/guardian-cprs', { cprs: ['0101801234'] }, 404],
    ['GET', '/api/accounts/acc-ingen/guardian-cprs', undefined, 404],
  ] as const) {
    const res = await central.api(method, path, body);
    t.is(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
  }
  t.deepEqual((await central.api('GET', '/api/accounts/acc-ida/guardian-cprs')).body.guardians, [
    { cpr_masked: '020280-xxxx', person_id: null },
  ]);
});

test("central's API asks for a token", async (t) => {
  const central = await startCentral(t);
  const token = await central.tokenFor('it');
  const without = await central.api('GET', '/api/sites', undefined, null);
  t.is(without.status, 401);
  t.is(without.body.code, 'bad_credentials');
  const withToken = await fetch(`${central.http}/api/sites`, { headers: { authorization: `Bearer ${token}` } });
  t.is(withToken.status, 200);
  t.is((await fetch(`${central.http}/healthz`)).status, 200);
});
