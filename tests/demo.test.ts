import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import type { Decision } from '@kantine/protocol';
import test from 'ava';
import { freePort, repoRoot, stopGracefully } from './helpers/process.ts';
import { signIn } from './helpers/sign-in.ts';
import { trustingFetch } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

// The README's `npm start`, without a terminal (so driven over HTTP) and on the simulated port
// (pcscd belongs to pcsc.test.ts while the suite runs; the demo's PC/SC mode is tried by hand).
test('npm start runs central and a linked demo site: a kantine card pays, its clone is declined, an old UID card shows its balance, a block at central stops the card, a guardian signs in and tops up 100 kr through the fake provider the demo runs, and the till sells against it — and no CPR number is in its output', async (t) => {
  t.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'kantine-demo-'));
  const [mqttPort, httpPort, centralMqttPort, centralHttpPort, idpPort, mailPort, mailSmtpPort, pspPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child = spawn(process.execPath, ['--import=tsx', 'demo/src/demo.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KANTINE_DEMO_DIR: dir,
      KANTINE_MQTT_PORT: String(mqttPort),
      KANTINE_HTTP_PORT: String(httpPort),
      KANTINE_CENTRAL_MQTT_PORT: String(centralMqttPort),
      KANTINE_CENTRAL_HTTP_PORT: String(centralHttpPort),
      KANTINE_IDP_PORT: String(idpPort),
      KANTINE_MAIL_PORT: String(mailPort),
      KANTINE_MAIL_SMTP_PORT: String(mailSmtpPort),
      KANTINE_PSP_PORT: String(pspPort),
      KANTINE_DEMO_PORT: 'sim',
      // every log line, so that the CPR check below reads all that central and the provider say
      LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  t.teardown(async () => {
    await stopGracefully(child);
    rmSync(dir, { recursive: true, force: true });
  });
  await eventually(() => (output.includes('online') ? true : undefined), 120_000, 'the demo reader online');
  t.regex(output, /simuleret \/ simulated/);

  // The site's HTTPS, trusted through the site CA the demo made (and prints the path of).
  const api = `https://127.0.0.1:${httpPort}`;
  const fetchSite = trustingFetch(readFileSync(join(dir, 'tls', 'site-ca.pem'), 'utf8'));
  // Staff log in with the PIN the demo prints.
  const pin = /Anne (\d{4})/.exec(output)?.[1];
  t.truthy(pin, 'the demo prints a staff PIN');
  t.regex(output, new RegExp(`Kiosk: +${api}/kiosk/`));
  const login = await fetchSite(`${api}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ till_id: 'kasse-1', staff_id: 'anne', pin }),
  });
  t.is(login.status, 200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const decisions = async () =>
    (await (await fetchSite(`${api}/api/tills/kasse-1/decisions`, { headers: { cookie } })).json()) as Decision[];
  /** Taps demo card `key` and returns the decision, the `n`th of the run. */
  const tap = async (key: string, n: number): Promise<Decision> => {
    t.is((await fetchSite(`${api}/api/demo/tap/${key}`, { method: 'POST' })).status, 202);
    for (let i = 0; i < 300; i++) {
      const list = await decisions();
      // done when the gateway decided it and the reader has shown it (a reader still busy with one
      // tap ignores the next card, as at a real till)
      const shown = output.split('[læser]').length - 1;
      if (list.length >= n && shown >= n) return list[0] as Decision;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no decision after tapping ${key}`);
  };
  const basket = await fetchSite(`${api}/api/tills/kasse-1/basket`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ lines: [{ product_id: 'yoghurt', quantity: 1 }] }),
  });
  t.is(basket.status, 200);
  t.like(await tap('e', 1), { outcome: 'approved', first_name: 'Emma', card_kind: 'ntag424', amount_ore: 600 });
  t.like(await tap('k', 2), { outcome: 'declined', code: 'card_cloned' });
  t.like(await tap('n', 3), { outcome: 'balance', first_name: 'Noah', card_kind: 'legacy' });
  t.is((await fetchSite(`${api}/api/demo/tap/z`, { method: 'POST' })).status, 404);
  t.regex(output, /SALG \/ SALE Emma: 1x Yoghurt/);

  // Central runs beside the site: the sale reached it, and a block made there stops the card.
  const centralApi = `http://127.0.0.1:${centralHttpPort}`;
  t.regex(output, new RegExp(`Central: +${centralApi}/api/`));
  // central asks for a token; the demo prints the ones it made
  const bearer = (scope: string) => ({
    authorization: `Bearer ${new RegExp(`${scope} (kc_\\S+)`).exec(output)?.[1]}`,
  });
  let emma: { balance_ore: number } | undefined;
  for (let i = 0; i < 250 && emma?.balance_ore !== 14_400; i++) {
    emma = (await (await fetch(`${centralApi}/api/accounts/konto-emma`, { headers: bearer('admin') })).json()) as {
      balance_ore: number;
    };
    if (emma.balance_ore !== 14_400) await new Promise((r) => setTimeout(r, 20));
  }
  t.is(emma?.balance_ore, 14_400, 'Emma’s sale at central');
  t.is(
    (await fetch(`${centralApi}/api/cards/04A1B2C3D4E501/block`, { method: 'POST', headers: bearer('it') })).status,
    204,
  );
  // The site has applied the block when it acknowledges everything central queued for it.
  for (let i = 0; i < 250; i++) {
    const { sites } = (await (await fetch(`${centralApi}/api/sites`, { headers: bearer('it') })).json()) as {
      sites: { down_seq: number; down_acked: number }[];
    };
    if (sites[0] && sites[0].down_acked === sites[0].down_seq) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.like(await tap('e', 4), { outcome: 'declined', code: 'card_blocked' });

  // A guardian signs in at the portal address the demo prints, through the dev provider it runs,
  // and sees her two children.
  const portal = new RegExp(`Portal: +(${centralApi})/ `).exec(output)?.[1];
  t.is(portal, centralApi, 'the demo prints the portal address');
  const issuer = /Login: +(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
  t.is(issuer, `http://127.0.0.1:${idpPort}`);
  for (const p of DEMO_PEOPLE) t.true(output.includes(p.name), `the demo lists ${p.name}`);
  t.regex(output, new RegExp(`Mail: +http://127\\.0\\.0\\.1:${mailPort}/`), 'the demo prints its mail page');
  const anne = await signIn(centralApi, { issuer }, 'anne');
  const mine = (await (await fetch(`${centralApi}/api/me/accounts`, { headers: { cookie: anne.cookie } })).json()) as {
    accounts: { account_id: string }[];
  };
  t.deepEqual(mine.accounts.map((a) => a.account_id).sort(), ['konto-emma', 'konto-noah']);

  // Anne tops up Noah's 4,50 kr with 100 kr through the fake provider the demo runs (its own
  // process), and the till sells him a yoghurt against it.
  t.regex(output, new RegExp(`Betaling: +http://127\\.0\\.0\\.1:${pspPort}`), 'the demo prints its payment provider');
  const topup = await fetch(`${centralApi}/api/accounts/konto-noah/topups`, {
    method: 'POST',
    headers: { cookie: anne.cookie, 'x-csrf-token': anne.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ amount_ore: 10_000, terms_accepted: true }),
  });
  t.is(topup.status, 201);
  const { checkout_url } = (await topup.json()) as { checkout_url: string };
  t.true(checkout_url.startsWith(`http://127.0.0.1:${pspPort}/pay/`));
  const paid = await fetch(checkout_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ card_number: '4571000000000001', expiry: '12/39', cvc: '123' }).toString(),
    redirect: 'manual',
  });
  t.is(paid.status, 303);
  let noah: { balance_ore: number } | undefined;
  for (let i = 0; i < 250 && noah?.balance_ore !== 10_450; i++) {
    noah = (await (await fetch(`${centralApi}/api/accounts/konto-noah`, { headers: bearer('admin') })).json()) as {
      balance_ore: number;
    };
    if (noah.balance_ore !== 10_450) await new Promise((r) => setTimeout(r, 20));
  }
  t.is(noah?.balance_ore, 10_450, 'the top-up credited at central');
  for (let i = 0; i < 250; i++) {
    const { sites } = (await (await fetch(`${centralApi}/api/sites`, { headers: bearer('it') })).json()) as {
      sites: { down_seq: number; down_acked: number }[];
    };
    if (sites[0] && sites[0].down_acked === sites[0].down_seq) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const again = await fetchSite(`${api}/api/tills/kasse-1/basket`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ lines: [{ product_id: 'yoghurt', quantity: 1 }] }),
  });
  t.is(again.status, 200);
  t.like(await tap('n', 5), { outcome: 'approved', first_name: 'Noah', amount_ore: 600 });

  // Freja's purchase under 50 kr: central charges Peter's agreement at the fake provider, and the
  // 200 kr reach the till (issue 19).
  const yoghurts = async (quantity: number) =>
    fetchSite(`${api}/api/tills/kasse-1/basket`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ lines: [{ product_id: 'yoghurt', quantity }] }),
    });
  t.is((await yoghurts(6)).status, 200);
  t.like(await tap('f', 6), { outcome: 'approved', first_name: 'Freja', amount_ore: 3_600, balance_ore: 4_400 });
  let freja: { balance_ore: number } | undefined;
  for (let i = 0; i < 500 && freja?.balance_ore !== 24_400; i++) {
    freja = (await (await fetch(`${centralApi}/api/accounts/konto-freja`, { headers: bearer('admin') })).json()) as {
      balance_ore: number;
    };
    if (freja.balance_ore !== 24_400) await new Promise((r) => setTimeout(r, 40));
  }
  t.is(freja?.balance_ore, 24_400, 'the automatic top-up at central');
  for (let i = 0; i < 250; i++) {
    const { sites } = (await (await fetch(`${centralApi}/api/sites`, { headers: bearer('it') })).json()) as {
      sites: { down_seq: number; down_acked: number }[];
    };
    if (sites[0] && sites[0].down_acked === sites[0].down_seq) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.is((await yoghurts(1)).status, 200);
  t.like(await tap('f', 7), { outcome: 'approved', first_name: 'Freja', balance_ore: 23_800 }, 'the till sells on it');

  // No CPR number — a guardian's or a child's, with or without its dash — in anything it printed.
  for (const { cpr } of [...DEMO_PEOPLE, ...DEMO_CHILDREN]) {
    t.false(output.includes(cpr), 'a CPR number in the demo output');
    t.false(output.includes(`${cpr.slice(0, 6)}-${cpr.slice(6)}`), 'a CPR number in the demo output');
  }
});
