/**
 * Attacks on the till's HTTP from the site's network (issue 16, findings 11 and 17): sniffing
 * PINs and cookies on plain HTTP, framing the kiosk, a foreign page opening the live socket with
 * staff's cookie, and reading the site, its readers and metrics without a login.
 */
import { networkInterfaces } from 'node:os';
import { parseGatewayConfig } from '@kantine/gateway';
import test from 'ava';
import WebSocket from 'ws';
import { STAFF, startSite, type TestSite } from '../helpers/site.ts';

const METRICS_TOKEN = 'm'.repeat(40);

/** This machine's address on the network (not loopback): where a tablet or an attacker reaches it. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

/** A site as the docs set it up for tablets: on every address, with its defaults (HTTPS). */
async function lanSite(t: import('ava').ExecutionContext) {
  if (!lanAddress) throw new Error('this machine has no IPv4 address beside loopback');
  const site = await startSite(t, {
    https: true,
    config: {
      http: { host: '0.0.0.0', port: 0, metrics_token: METRICS_TOKEN },
      mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 }, // MQTT over TLS with the site CA too
    },
  });
  const lan = `https://${lanAddress}:${site.gateway.httpPort}`;
  return { site, lan, screen: await pairScreen(site, lan) };
}

/** Pairs a till screen as IT does (the CLI's link, opened on the screen); returns its cookie. */
async function pairScreen(site: TestSite, lan: string, name = 'kasse-1-skaerm'): Promise<string> {
  const code = site.gateway.screens.pairingCode(name, new Date(Date.now() + 3_600_000));
  const res = await site.fetch(`${lan}/api/kiosk/pair?code=${code}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`pairing answered ${res.status}`);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

test('the till speaks only HTTPS with the site CA: a plain-HTTP login gets no answer and sends no PIN to a till', async (t) => {
  const { site, lan } = await lanSite(t);
  t.true(site.http.startsWith('https://'));
  t.is(site.gateway.httpTls?.cert_file, site.gateway.tls?.cert_file, "the broker's certificate, the same names");
  await t.throwsAsync(
    fetch(`${lan.replace('https', 'http')}/api/kiosk/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ till_id: 'till-1', staff_id: STAFF.id, pin: STAFF.pin }),
    }),
  );
  // A client that does not trust the site CA is refused by TLS itself.
  await t.throwsAsync(fetch(`${lan}/kiosk/`));
  t.is((await site.fetch(`${lan}/kiosk/`)).status, 200, 'with the site CA');
});

test('plain HTTP beyond loopback is refused at start', (t) => {
  const site = { id: 'x', name: 'X' };
  for (const host of ['0.0.0.0', '192.168.1.10', '::']) {
    t.throws(() => parseGatewayConfig({ site, http: { host, tls: 'off' } }), { code: 'config_invalid' }, host);
  }
  t.is(parseGatewayConfig({ site, http: { host: '127.0.0.1', tls: 'off' } }).http.tls, 'off');
  t.is(parseGatewayConfig({ site }).http.tls, 'auto', 'HTTPS by default');
});

test('the session cookie is Secure, HttpOnly and SameSite=Strict; pages forbid framing and foreign scripts', async (t) => {
  const { site, lan, screen } = await lanSite(t);
  const res = await site.fetch(`${lan}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: screen },
    body: JSON.stringify({ till_id: 'till-1', staff_id: STAFF.id, pin: STAFF.pin }),
  });
  t.is(res.status, 200);
  const cookie = res.headers.get('set-cookie') ?? '';
  t.regex(cookie, /; Secure/);
  t.regex(cookie, /; HttpOnly/);
  t.regex(cookie, /; SameSite=Strict/);
  const page = await site.fetch(`${lan}/kiosk/`);
  t.regex(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  t.is(page.headers.get('x-frame-options'), 'DENY');
  t.regex(page.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
});

test("a page from another origin cannot open the till's live socket with staff's cookie", async (t) => {
  const { site, lan, screen } = await lanSite(t);
  const login = await site.fetch(`${lan}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: screen },
    body: JSON.stringify({ till_id: 'till-1', staff_id: STAFF.id, pin: STAFF.pin }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const open = (origin: string | undefined) =>
    new Promise<number | 'open'>((resolve) => {
      const ws = new WebSocket(`${lan.replace('https', 'wss')}/api/tills/till-1/live`, {
        ca: site.ca,
        headers: { cookie },
        ...(origin ? { origin } : {}),
      });
      ws.on('message', () => {
        ws.close();
        resolve('open');
      });
      ws.on('close', (code) => resolve(code));
    });
  t.is(await open('https://evil.example'), 4403);
  t.is(await open(lan.replace('https', 'http')), 4403, 'the same host over plain HTTP is another origin');
  t.is(await open(undefined), 4403, 'no origin at all');
  t.is(await open(lan), 'open', "the kiosk's own page");
});

test('the site, its readers and metrics are not for anyone on the network', async (t) => {
  const { site, lan, screen } = await lanSite(t);
  const siteInfo = await site.fetch(`${lan}/api/site`);
  t.is(siteInfo.status, 401);
  t.is(((await siteInfo.json()) as { code: string }).code, 'not_logged_in');
  const metrics = await site.fetch(`${lan}/metrics`);
  t.is(metrics.status, 401);
  t.is(((await metrics.json()) as { code: string }).code, 'metrics_refused');
  const wrongToken = await site.fetch(`${lan}/metrics`, { headers: { authorization: `Bearer ${'x'.repeat(40)}` } });
  t.is(wrongToken.status, 401);
  t.notRegex(await wrongToken.text(), /kantine_/);

  // The monitoring system with its token; the machine itself; a logged-in till.
  const scraped = await site.fetch(`${lan}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  t.is(scraped.status, 200);
  t.regex(await scraped.text(), /kantine_readers_online/);
  t.is((await site.fetch(`${site.http}/metrics`)).status, 200, 'on loopback');
  t.is((await site.fetch(`${site.http}/api/site`)).status, 200, 'on loopback');
  const login = await site.fetch(`${lan}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: screen },
    body: JSON.stringify({ till_id: 'till-1', staff_id: STAFF.id, pin: STAFF.pin }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  t.is((await site.fetch(`${lan}/api/site`, { headers: { cookie } })).status, 200, 'with a staff session');
});

test('a machine on the network that is not a paired till screen sees no staff names and cannot try a PIN', async (t) => {
  const { site, lan, screen } = await lanSite(t);
  const refused = async (res: Response) => [res.status, ((await res.json()) as { code: string }).code];
  const login = (cookie?: string) =>
    site.fetch(`${lan}/api/kiosk/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify({ till_id: 'till-1', staff_id: STAFF.id, pin: STAFF.pin }),
    });
  t.deepEqual(await refused(await site.fetch(`${lan}/api/kiosk/login-options`)), [401, 'screen_not_paired']);
  t.deepEqual(await refused(await login()), [401, 'screen_not_paired'], 'not even the right PIN');
  // Forged, expired and foreign pairing links and screen cookies are refused.
  const expired = site.gateway.screens.pairingCode('kasse-9', new Date(Date.now() - 1000));
  const forged = `kasse-9.${Date.now() + 3_600_000}.${'A'.repeat(43)}`;
  for (const code of [expired, forged, 'x']) {
    const res = await site.fetch(`${lan}/api/kiosk/pair?code=${code}`, { redirect: 'manual' });
    t.not(res.status, 302, code);
    t.is(res.headers.get('set-cookie'), null);
  }
  const forgedScreen = `kantine_screen=kasse-9.${Date.now()}.${'A'.repeat(43)}`;
  t.deepEqual(await refused(await login(forgedScreen)), [401, 'screen_not_paired']);
  // The paired screen: the login screen and the login.
  const options = await site.fetch(`${lan}/api/kiosk/login-options`, { headers: { cookie: screen } });
  t.is(options.status, 200);
  t.is((await login(screen)).status, 200);
  t.is((await site.fetch(`${site.http}/api/kiosk/login-options`)).status, 200, 'the machine itself');
});
