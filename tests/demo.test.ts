import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, stopGracefully } from '@kantine/gateway';
import type { Decision } from '@kantine/protocol';
import test from 'ava';
import { eventually } from './helpers/wait.ts';

// The README's `npm start`, without a terminal (so driven over HTTP) and on the simulated port
// (pcscd belongs to pcsc.test.ts while the suite runs; the demo's PC/SC mode is tried by hand).
test('npm start runs central and a linked demo site: a kantine card pays, its clone is declined, an old UID card shows its balance, a block at central stops the card', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-demo-'));
  const [mqttPort, httpPort, centralMqttPort, centralHttpPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child = spawn(process.execPath, ['--import=tsx', 'gateway/src/demo.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KANTINE_DEMO_DIR: dir,
      KANTINE_MQTT_PORT: String(mqttPort),
      KANTINE_HTTP_PORT: String(httpPort),
      KANTINE_CENTRAL_MQTT_PORT: String(centralMqttPort),
      KANTINE_CENTRAL_HTTP_PORT: String(centralHttpPort),
      KANTINE_DEMO_PORT: 'sim',
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
  await eventually(() => (output.includes('online') ? true : undefined), 30_000, 'the demo reader online');
  t.regex(output, /simuleret \/ simulated/);

  const api = `http://127.0.0.1:${httpPort}`;
  // Staff log in with the PIN the demo prints.
  const pin = /Anne (\d{4})/.exec(output)?.[1];
  t.truthy(pin, 'the demo prints a staff PIN');
  t.regex(output, new RegExp(`Kiosk: +${api}/kiosk/`));
  const login = await fetch(`${api}/api/kiosk/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ till_id: 'kasse-1', staff_id: 'anne', pin }),
  });
  t.is(login.status, 200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const decisions = async () =>
    (await (await fetch(`${api}/api/tills/kasse-1/decisions`, { headers: { cookie } })).json()) as Decision[];
  /** Taps demo card `key` and returns the decision, the `n`th of the run. */
  const tap = async (key: string, n: number): Promise<Decision> => {
    t.is((await fetch(`${api}/api/demo/tap/${key}`, { method: 'POST' })).status, 202);
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
  const basket = await fetch(`${api}/api/tills/kasse-1/basket`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ lines: [{ product_id: 'yoghurt', quantity: 1 }] }),
  });
  t.is(basket.status, 200);
  t.like(await tap('e', 1), { outcome: 'approved', first_name: 'Emma', card_kind: 'ntag424', amount_ore: 600 });
  t.like(await tap('k', 2), { outcome: 'declined', code: 'card_cloned' });
  t.like(await tap('n', 3), { outcome: 'balance', first_name: 'Noah', card_kind: 'legacy' });
  t.is((await fetch(`${api}/api/demo/tap/z`, { method: 'POST' })).status, 404);
  t.regex(output, /SALG \/ SALE Emma: 1x Yoghurt/);

  // Central runs beside the site: the sale reached it, and a block made there stops the card.
  const centralApi = `http://127.0.0.1:${centralHttpPort}`;
  t.regex(output, new RegExp(`Central: +${centralApi}/api/`));
  let emma: { balance_ore: number } | undefined;
  for (let i = 0; i < 250 && emma?.balance_ore !== 14_400; i++) {
    emma = (await (await fetch(`${centralApi}/api/accounts/konto-emma`)).json()) as { balance_ore: number };
    if (emma.balance_ore !== 14_400) await new Promise((r) => setTimeout(r, 20));
  }
  t.is(emma?.balance_ore, 14_400, 'Emma’s sale at central');
  t.is((await fetch(`${centralApi}/api/cards/04A1B2C3D4E501/block`, { method: 'POST' })).status, 204);
  // The site has applied the block when it acknowledges everything central queued for it.
  for (let i = 0; i < 250; i++) {
    const { sites } = (await (await fetch(`${centralApi}/api/sites`)).json()) as {
      sites: { down_seq: number; down_acked: number }[];
    };
    if (sites[0] && sites[0].down_acked === sites[0].down_seq) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.like(await tap('e', 4), { outcome: 'declined', code: 'card_blocked' });
});
