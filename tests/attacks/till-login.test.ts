/**
 * Attacks on the staff login at the till (issue 16, findings 7, 12 and 13), over real HTTP:
 * parallel PIN guesses, a stranger locking a colleague out, and sessions that outlive their
 * member of staff.
 */

import { request } from 'node:http';
import { hashSecret } from '@kantine/gateway';
import test from 'ava';
import WebSocket from 'ws';
import { STAFF, startSite, type TestSite } from '../helpers/site.ts';

/** A login attempt, from a given loopback address (127.0.0.x: another "screen" on this machine). */
function attempt(site: TestSite, staffId: string, pin: string, localAddress = '127.0.0.1'): Promise<[number, string]> {
  const body = JSON.stringify({ till_id: 'till-1', staff_id: staffId, pin });
  return new Promise((resolve, reject) => {
    const req = request(
      `${site.http}/api/kiosk/login`,
      { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve([res.statusCode ?? 0, (JSON.parse(text) as { code?: string }).code ?? 'ok']));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('200 parallel PIN guesses get at most five PINs checked, and the right PIN after them does not get in', async (t) => {
  const site = await startSite(t);
  const guesses = Array.from({ length: 200 }, (_, i) => String(i).padStart(4, '0'));
  const answers = await Promise.all(guesses.map((pin) => attempt(site, STAFF.id, pin)));
  const checked = answers.filter(([, code]) => code === 'wrong_pin').length;
  t.true(checked <= 4, `${checked} guesses answered wrong_pin`);
  t.is(answers.filter(([, code]) => code === 'pin_locked').length, 200 - checked);
  t.deepEqual(await attempt(site, STAFF.id, STAFF.pin), [429, 'pin_locked'], 'the right PIN waits with the guesser');
});

test("a stranger guessing a colleague's PIN from another screen does not lock the colleague out", async (t) => {
  const site = await startSite(t);
  const stranger = '127.0.0.2';
  for (let i = 0; i < 20; i++) await attempt(site, STAFF.id, '0000', stranger);
  t.deepEqual(await attempt(site, STAFF.id, '0000', stranger), [429, 'pin_locked'], 'the guessing screen waits');
  t.deepEqual(await attempt(site, STAFF.id, STAFF.pin), [200, 'ok'], 'Anne at her own till logs in');
});

test("knowing one's own PIN does not reset the count of guesses at a colleague's", async (t) => {
  const site = await startSite(t);
  site.ledger.staff.putStaff({ id: 'bent', name: 'Bent', pin_hash: await hashSecret('1357') });
  const screen = '127.0.0.3';
  for (let i = 0; i < 4; i++) t.deepEqual(await attempt(site, 'bent', '0000', screen), [401, 'wrong_pin']);
  t.deepEqual(await attempt(site, STAFF.id, STAFF.pin, screen), [200, 'ok']);
  t.deepEqual(await attempt(site, 'bent', '0001', screen), [429, 'pin_locked']);
  t.deepEqual(await attempt(site, 'bent', '1357'), [200, 'ok'], 'Bent himself, from his own screen');
});

test('a removed member of staff loses their session and live screen at once; a new PIN ends the old sessions', async (t) => {
  const site = await startSite(t);
  const cookie = await site.login('till-1');
  t.is((await site.api('till-1', 'GET', '/session')).status, 200);
  const ws = new WebSocket(`${site.http.replace('http', 'ws')}/api/tills/till-1/live`, {
    headers: { cookie },
    origin: site.http,
  });
  t.teardown(() => ws.terminate());
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise((resolve) => ws.once('message', resolve)); // hello

  // `kantine-gateway staff remove anne` (the CLI writes the same row, from another process)
  site.ledger.staff.removeStaff(STAFF.id);
  const after = await site.api('till-1', 'GET', '/session');
  t.is(after.status, 401);
  t.is(((await after.json()) as { code: string }).code, 'not_logged_in');
  t.is((await site.api('till-1', 'PUT', '/basket', { lines: [{ product_id: 'yoghurt', quantity: 1 }] })).status, 401);
  t.is(site.ledger.baskets.getBasket('till-1'), undefined, 'nothing changed');
  const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000).unref());
  t.is(await Promise.race([closed, timeout]), 4401, 'the live screen is closed');

  // Back with a new PIN: the session from before the change is dead, a new login works.
  site.ledger.staff.putStaff({ id: STAFF.id, name: STAFF.name, pin_hash: await hashSecret(STAFF.pin) });
  const old = await fetch(`${site.http}/api/tills/till-1/session`, { headers: { cookie } });
  t.is(old.status, 401, 'a session from before the new PIN');
  const fresh = await site.login('till-1');
  site.ledger.staff.putStaff({ id: STAFF.id, name: STAFF.name, pin_hash: await hashSecret('9999') });
  t.is((await fetch(`${site.http}/api/tills/till-1/session`, { headers: { cookie: fresh } })).status, 401);
});
