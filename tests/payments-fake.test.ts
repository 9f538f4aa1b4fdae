/**
 * The fake payment provider as IT and the demo run it: `kantine-fake-psp` as a real child process,
 * its hosted page driven with plain form posts (as a browser without JavaScript would), its
 * webhooks received by a real HTTP server here, and `FakePspAdapter` as central will use it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import {
  FakePspAdapter,
  isDeclined,
  isProviderUnreachable,
  PaymentsConfig,
  SIGNATURE_HEADER,
  signWebhook,
  startFakePsp,
} from '@kantine/payments';
import { KantineError, withDefaults } from '@kantine/protocol';
import test from 'ava';
import { repoRoot, stopGracefully } from './helpers/process.ts';
import { spawnFakePsp } from './helpers/psp.ts';
import { eventually } from './helpers/wait.ts';

const API_KEY = 'test-api-key-0123456789';
const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
const bin = join(repoRoot, 'payments', 'bin', 'kantine-fake-psp.mjs');

interface Received {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  event: { id: string; type: string; payment_id: string; sequence: number };
}

/** Central's webhook route, as far as this test needs it: keeps every delivery, answers 200. */
async function startReceiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({ headers: req.headers, raw, event: JSON.parse(raw.toString()) });
      res.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/payments/webhook`, received };
}

const receiver = await startReceiver();
const psp = await spawnFakePsp(['--webhook-url', receiver.url], {
  KANTINE_FAKE_PSP_API_KEY: API_KEY,
  KANTINE_FAKE_PSP_WEBHOOK_SECRET: WEBHOOK_SECRET,
});
const config = withDefaults(PaymentsConfig, {
  provider: 'fake',
  api_url: psp.url,
  api_key: API_KEY,
  webhook_secret: WEBHOOK_SECRET,
  request_timeout_ms: 2_000,
});
if (config.provider !== 'fake') throw new Error('unreachable');
const psa = new FakePspAdapter(config);

test.after.always(async () => {
  await stopGracefully(psp.child);
  receiver.server.close();
});

const RETURN = 'http://127.0.0.1:9/portal/topup/return';
const CANCEL = 'http://127.0.0.1:9/portal/topup/cancelled';
const TERMS = 'http://127.0.0.1:9/terms';
let intents = 0;

const checkout = (amount_ore = 10_000, save = false) =>
  psa.createCheckout({
    intent_id: `intent-${++intents}`,
    amount_ore,
    return_url: RETURN,
    cancel_url: CANCEL,
    terms_url: TERMS,
    ...(save ? { save_card_for_agreement: true } : {}),
  });

/** Posts a form as a browser does, without following the redirect. */
const post = (url: string, fields: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });

/** Opens the hosted page and pays with a card. */
async function pay(checkout_url: string, card: string, extra: Record<string, string> = {}): Promise<Response> {
  const page = await fetch(checkout_url);
  if (page.status !== 200) throw new Error(`the payment page answered ${page.status}`);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
  if (!action) throw new Error('no card form on the page');
  return post(new URL(action, checkout_url).toString(), { card_number: card, expiry: '12/30', cvc: '123', ...extra });
}

const admin = (path: string, body?: unknown, method = 'POST') =>
  fetch(`${psp.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

const webhooksFor = (payment_id: string) => receiver.received.filter((r) => r.event.payment_id === payment_id);
const eventsAtProvider = async (payment_id: string) => {
  const res = await admin('/admin/webhooks', undefined, 'GET');
  const body = (await res.json()) as {
    events: { event_id: string; payment_id: string; state: string; fault: string; deliveries: number }[];
  };
  return body.events.filter((e) => e.payment_id === payment_id);
};

const code = (err: unknown) => (err instanceof KantineError ? err.code : String(err));

// ── The hosted page and its test cards ────────────────────────────────────────────────────────

test.serial(
  'pays with the approved test card: the browser returns to us, the status says paid and a signed webhook says which payment',
  async (t) => {
    const c = await checkout(10_000);
    t.is((await psa.getPayment(c.payment_id)).state, 'pending');
    const page = await (await fetch(c.checkout_url)).text();
    t.regex(page, /Betal 100,00 kr/);
    t.regex(page, /Pay 100,00 kr/);
    t.regex(page, /4571000000000001/, 'the page lists its test cards');

    const res = await pay(c.checkout_url, '4571 0000 0000 0001');
    t.is(res.status, 303);
    const back = new URL(res.headers.get('location') ?? '');
    t.is(`${back.origin}${back.pathname}`, RETURN);
    t.is(back.searchParams.get('payment_id'), c.payment_id);

    const status = await psa.getPayment(c.payment_id);
    t.deepEqual(status, { payment_id: c.payment_id, state: 'paid', amount_ore: 10_000 });

    const [hook] = await eventually(() =>
      webhooksFor(c.payment_id).length > 0 ? webhooksFor(c.payment_id) : undefined,
    );
    t.truthy(hook);
    if (!hook) return;
    const event = psa.verifyWebhook(hook.headers, hook.raw);
    t.deepEqual(event, { event_id: hook.event.id, type: 'payment.paid', payment_id: c.payment_id });
    t.is(hook.headers[SIGNATURE_HEADER], signWebhook(WEBHOOK_SECRET, hook.raw));
  },
);

for (const [card, expiry, reason] of [
  ['4000000000000002', '12/30', 'payment_declined'],
  ['4000000000000069', '12/30', 'payment_card_expired'],
  ['4571000000000001', '01/20', 'payment_card_expired'],
  ['4000000000009995', '12/30', 'payment_insufficient_funds'],
] as const) {
  test.serial(
    `card ${card} valid through ${expiry} fails with ${reason}: the status says so and the webhook tells us to look`,
    async (t) => {
      const c = await checkout(5_000);
      const res = await pay(c.checkout_url, card, { expiry });
      t.is(res.status, 402);
      t.regex(await res.text(), /Betalingen blev afvist/);
      t.deepEqual(await psa.getPayment(c.payment_id), {
        payment_id: c.payment_id,
        state: 'failed',
        amount_ore: 5_000,
        failure: reason,
      });
      const hooks = await eventually(() =>
        webhooksFor(c.payment_id).length > 0 ? webhooksFor(c.payment_id) : undefined,
      );
      t.is(hooks[0]?.event.type, 'payment.failed');
    },
  );
}

test.serial('the 3-D Secure card asks for a challenge; approving it pays, refusing it fails', async (t) => {
  const ok = await checkout(2_500);
  const res = await pay(ok.checkout_url, '4000000000003220');
  t.is(res.status, 303);
  const challenge = new URL(res.headers.get('location') ?? '', ok.checkout_url).toString();
  t.is(new URL(challenge).pathname, `/pay/${ok.payment_id}/3ds`);
  t.is((await psa.getPayment(ok.payment_id)).state, 'pending', 'nothing is paid before the challenge is answered');
  const page = await fetch(challenge);
  t.regex(await page.text(), /Bekræft betalingen/);
  const approved = await post(challenge, { decision: 'approve' });
  t.is(approved.status, 303);
  t.is((await psa.getPayment(ok.payment_id)).state, 'paid');

  const no = await checkout(2_500);
  const res2 = await pay(no.checkout_url, '4000000000003220');
  const refused = await post(new URL(res2.headers.get('location') ?? '', no.checkout_url).toString(), {
    decision: 'refuse',
  });
  t.is(refused.status, 402);
  t.like(await psa.getPayment(no.payment_id), { state: 'failed', failure: 'payment_declined' });
});

test.serial(
  'cancelling on the page sends the browser to the cancel address and the payment is cancelled',
  async (t) => {
    const c = await checkout(1_000);
    const res = await post(`${c.checkout_url}/cancel`, {});
    t.is(res.status, 303);
    t.true((res.headers.get('location') ?? '').startsWith(CANCEL));
    t.is((await psa.getPayment(c.payment_id)).state, 'cancelled');
  },
);

test.serial(
  'a malformed card form is shown again with the error and changes nothing; a finished payment cannot be paid twice',
  async (t) => {
    const c = await checkout(1_000);
    const bad = await pay(c.checkout_url, '12ab');
    t.is(bad.status, 400);
    const html = await bad.text();
    t.regex(html, /role="alert"/);
    t.regex(html, /The card number must be 12-19 digits/);
    t.is((await psa.getPayment(c.payment_id)).state, 'pending');

    t.is((await pay(c.checkout_url, '4571000000000001')).status, 303);
    const again = await post(c.checkout_url, { card_number: '4571000000000001', expiry: '12/30', cvc: '123' });
    t.is(again.status, 409);
    t.is((await fetch(c.checkout_url)).status, 409);
    const hooks = await eventually(() =>
      webhooksFor(c.payment_id).length > 0 ? webhooksFor(c.payment_id) : undefined,
    );
    t.is(hooks.length, 1, 'one payment, one webhook');
  },
);

test.serial('the same intent asked twice gives the same payment (the intent id is the idempotency key)', async (t) => {
  const input = {
    intent_id: 'intent-repeat',
    amount_ore: 4_200,
    return_url: RETURN,
    cancel_url: CANCEL,
    terms_url: TERMS,
  };
  const a = await psa.createCheckout(input);
  const b = await psa.createCheckout(input);
  t.is(a.payment_id, b.payment_id);
  const other = await t.throwsAsync(psa.createCheckout({ ...input, amount_ore: 4_300 }));
  t.is(code(other), 'payment_request_refused', 'the same intent with another amount is refused');
});

test.serial('bad amounts are refused before the provider is asked', async (t) => {
  for (const amount_ore of [0, -100, 12.5, Number.NaN]) {
    const err = await t.throwsAsync(checkout(amount_ore));
    t.is(code(err), 'invalid_request', `amount ${amount_ore}`);
  }
});

// ── Webhooks: the signature ───────────────────────────────────────────────────────────────────

test.serial(
  'a webhook with an altered body, a signature made with another secret or none at all is refused',
  async (t) => {
    const c = await checkout(1_000);
    await pay(c.checkout_url, '4571000000000001');
    const [hook] = await eventually(() =>
      webhooksFor(c.payment_id).length > 0 ? webhooksFor(c.payment_id) : undefined,
    );
    if (!hook) return t.fail('no webhook');
    const altered = Buffer.from(hook.raw.toString().replace(c.payment_id, 'pay_someone-else'));
    t.is(code(t.throws(() => psa.verifyWebhook(hook.headers, altered))), 'payment_webhook_refused');
    const forged = { ...hook.headers, [SIGNATURE_HEADER]: signWebhook('another-secret-0123456789', hook.raw) };
    t.is(code(t.throws(() => psa.verifyWebhook(forged, hook.raw))), 'payment_webhook_refused');
    const forgedAltered = { ...hook.headers, [SIGNATURE_HEADER]: signWebhook('another-secret-0123456789', altered) };
    t.is(code(t.throws(() => psa.verifyWebhook(forgedAltered, altered))), 'payment_webhook_refused');
    const { [SIGNATURE_HEADER]: _, ...unsigned } = hook.headers;
    t.is(code(t.throws(() => psa.verifyWebhook(unsigned, hook.raw))), 'payment_webhook_refused');
    t.is(
      code(t.throws(() => psa.verifyWebhook({ ...hook.headers, [SIGNATURE_HEADER]: 'sha256=' }, hook.raw))),
      'payment_webhook_refused',
    );
    // The untouched one still passes: the refusals above are about the changes, not the webhook.
    t.is(psa.verifyWebhook(hook.headers, hook.raw).payment_id, c.payment_id);
  },
);

// ── Card on file: agreements and merchant-initiated charges ───────────────────────────────────

async function agreement(t: { fail(m: string): void }): Promise<string> {
  const c = await checkout(10_000, true);
  const res = await pay(c.checkout_url, '4571000000000001', { save_card: 'yes', expiry: '11/31' });
  if (res.status !== 303) t.fail(`paying with a saved card answered ${res.status}`);
  const status = await psa.getPayment(c.payment_id);
  if (!status.agreement) throw new Error('no agreement');
  return status.agreement.id;
}

test.serial(
  'a checkout that keeps the card needs the buyer to tick consent, and then gives an agreement with the card expiry',
  async (t) => {
    const c = await checkout(10_000, true);
    const page = await (await fetch(c.checkout_url)).text();
    t.regex(page, /name="save_card"/);
    const noConsent = await pay(c.checkout_url, '4571000000000001', { expiry: '11/31' });
    t.is(noConsent.status, 400);
    t.regex(await noConsent.text(), /Tick the box/);
    t.is((await psa.getPayment(c.payment_id)).state, 'pending');

    t.is((await pay(c.checkout_url, '4571000000000001', { save_card: 'yes', expiry: '11/31' })).status, 303);
    const status = await psa.getPayment(c.payment_id);
    t.is(status.state, 'paid');
    t.is(status.agreement?.card_expiry, '2031-11');
    t.regex(status.agreement?.id ?? '', /^agr_/);
  },
);

test.serial('a 0 kr checkout keeps a card without charging it; 0 kr without keeping a card is refused', async (t) => {
  const c = await checkout(0, true);
  await pay(c.checkout_url, '4571000000000001', { save_card: 'yes' });
  t.like(await psa.getPayment(c.payment_id), { state: 'paid', amount_ore: 0, agreement: { card_expiry: '2030-12' } });
  t.is(code(await t.throwsAsync(checkout(0, false))), 'invalid_request');
});

test.serial(
  'a merchant-initiated charge with the same idempotency key charges once; another key charges again',
  async (t) => {
    const agreement_id = await agreement(t);
    const first = await psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'purchase-1' });
    const again = await psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'purchase-1' });
    t.deepEqual(first, { payment_id: first.payment_id, state: 'paid', amount_ore: 15_000 });
    t.is(again.payment_id, first.payment_id);
    t.like(await psa.getPayment(first.payment_id), {
      state: 'paid',
      amount_ore: 15_000,
      agreement: { id: agreement_id },
    });
    t.is((await eventsAtProvider(first.payment_id)).length, 1, 'one charge, one event');

    const reused = await t.throwsAsync(
      psa.chargeAgreement({ agreement_id, amount_ore: 20_000, idempotency_key: 'purchase-1' }),
    );
    t.is(code(reused), 'payment_request_refused', 'a key reused for another amount is refused, not charged');

    const second = await psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'purchase-2' });
    t.not(second.payment_id, first.payment_id);
  },
);

test.serial(
  'charges on a stored card fail with the reason: insufficient funds, expired card, revoked agreement — and a decline is replayed, not retried, on its key',
  async (t) => {
    const agreement_id = await agreement(t);
    t.is((await admin(`/admin/agreements/${agreement_id}`, { fail_with: 'payment_insufficient_funds' })).status, 204);
    const poor = await t.throwsAsync(psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'p-1' }));
    t.is(code(poor), 'payment_insufficient_funds');
    t.true(isDeclined(poor));
    t.false(isProviderUnreachable(poor));

    t.is((await admin(`/admin/agreements/${agreement_id}`, { fail_with: null })).status, 204);
    const replay = await t.throwsAsync(
      psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'p-1' }),
    );
    t.is(code(replay), 'payment_insufficient_funds', 'the same key answers the same, even after the card recovered');
    t.truthy(await psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'p-2' }));

    t.is((await admin(`/admin/agreements/${agreement_id}`, { card_expiry: '2020-01' })).status, 204);
    t.is(
      code(await t.throwsAsync(psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'p-3' }))),
      'payment_card_expired',
    );

    await psa.revokeAgreement(agreement_id);
    t.is(
      code(await t.throwsAsync(psa.chargeAgreement({ agreement_id, amount_ore: 15_000, idempotency_key: 'p-4' }))),
      'payment_card_blocked',
    );
    t.is(
      code(
        await t.throwsAsync(
          psa.chargeAgreement({ agreement_id: 'agr_nobody', amount_ore: 100, idempotency_key: 'p-5' }),
        ),
      ),
      'payment_not_found',
    );
  },
);

test.serial('a refund gives back part of a paid payment; more than is left is refused', async (t) => {
  const c = await checkout(10_000);
  await pay(c.checkout_url, '4571000000000001');
  const r = await psa.refund(c.payment_id, 4_000, 'refund-1');
  t.is(r.amount_ore, 4_000);
  t.is((await psa.refund(c.payment_id, 4_000, 'refund-1')).refund_id, r.refund_id, 'the same key refunds once');
  t.is(code(await t.throwsAsync(psa.refund(c.payment_id, 6_001))), 'payment_request_refused');
  t.truthy(await psa.refund(c.payment_id, 6_000));
});

// ── Refusals of callers ───────────────────────────────────────────────────────────────────────

test.serial('the API and the admin endpoint want the API key', async (t) => {
  const wrong = new FakePspAdapter({ ...config, api_key: 'wrong-key-0123456789abc' });
  t.is(
    code(
      await t.throwsAsync(
        wrong.createCheckout({
          intent_id: 'x',
          amount_ore: 100,
          return_url: RETURN,
          cancel_url: CANCEL,
          terms_url: TERMS,
        }),
      ),
    ),
    'payment_request_refused',
  );
  const res = await fetch(`${psp.url}/admin/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api: { mode: '5xx' } }),
  });
  t.is(res.status, 401);
  t.truthy(await checkout(100), 'no fault was planned by the refused call');
});

test.serial('the fake provider listens on loopback only, and its command wants its secrets', async (t) => {
  const err = await t.throwsAsync(startFakePsp({ host: '0.0.0.0', api_key: API_KEY, webhook_secret: WEBHOOK_SECRET }));
  t.is(code(err), 'config_invalid');
  const child = spawn(process.execPath, [bin, '--port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, KANTINE_FAKE_PSP_API_KEY: '', KANTINE_FAKE_PSP_WEBHOOK_SECRET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const [exit] = (await once(child, 'exit')) as [number];
  t.not(exit, 0);
  t.regex(stderr, /config_invalid/);
});

// ── Faults on demand ──────────────────────────────────────────────────────────────────────────

test.serial(
  'fault 5xx: the adapter reports the provider unreachable, not a decline; the next call works',
  async (t) => {
    t.is((await admin('/admin/faults', { api: { mode: '5xx', count: 1 } })).status, 204);
    const c = await t.throwsAsync(checkout(1_000));
    t.true(isProviderUnreachable(c));
    t.false(isDeclined(c));
    t.truthy(await checkout(1_000));
  },
);

test.serial(
  'fault timeout: a charge that gets no answer is unreachable; retried with the same key it charges once',
  async (t) => {
    const agreement_id = await agreement(t);
    const impatient = new FakePspAdapter({ ...config, request_timeout_ms: 300 });
    t.is((await admin('/admin/faults', { api: { mode: 'timeout', count: 1, hang_ms: 60_000 } })).status, 204);
    const err = await t.throwsAsync(
      impatient.chargeAgreement({ agreement_id, amount_ore: 7_500, idempotency_key: 'tap-77' }),
    );
    t.is(code(err), 'payment_provider_unreachable');
    const retried = await psa.chargeAgreement({ agreement_id, amount_ore: 7_500, idempotency_key: 'tap-77' });
    const again = await psa.chargeAgreement({ agreement_id, amount_ore: 7_500, idempotency_key: 'tap-77' });
    t.is(retried.payment_id, again.payment_id);
    t.is((await eventsAtProvider(retried.payment_id)).length, 1, 'one charge, one event');
  },
);

test.serial('fault duplicate: the same event (same id) arrives twice', async (t) => {
  t.is((await admin('/admin/faults', { webhooks: { mode: 'duplicate', count: 1 } })).status, 204);
  const c = await checkout(1_000);
  await pay(c.checkout_url, '4571000000000001');
  const hooks = await eventually(() => (webhooksFor(c.payment_id).length >= 2 ? webhooksFor(c.payment_id) : undefined));
  t.is(hooks.length, 2);
  const [first, second] = hooks;
  if (!first || !second) return t.fail('two deliveries expected');
  t.is(first.event.id, second.event.id);
  t.is(psa.verifyWebhook(second.headers, second.raw).event_id, first.event.id);
});

test.serial('fault lose: the event is never sent, and the status endpoint still says paid', async (t) => {
  t.is((await admin('/admin/faults', { webhooks: { mode: 'lose', count: 1 } })).status, 204);
  const c = await checkout(1_000);
  await pay(c.checkout_url, '4571000000000001');
  t.is((await psa.getPayment(c.payment_id)).state, 'paid');
  t.like((await eventsAtProvider(c.payment_id))[0], { state: 'lost', fault: 'lose', deliveries: 0 });
  // The next event goes out as usual; the lost one did not come with it.
  const next = await checkout(1_000);
  await pay(next.checkout_url, '4571000000000001');
  await eventually(() => (webhooksFor(next.payment_id).length > 0 ? true : undefined));
  t.is(webhooksFor(c.payment_id).length, 0);
});

test.serial('fault late: the event is held while the payment is already paid, and arrives when released', async (t) => {
  t.is((await admin('/admin/faults', { webhooks: { mode: 'late', count: 1, delay_ms: 600_000 } })).status, 204);
  const c = await checkout(1_000);
  await pay(c.checkout_url, '4571000000000001');
  t.is((await psa.getPayment(c.payment_id)).state, 'paid');
  t.like((await eventsAtProvider(c.payment_id))[0], { state: 'held', fault: 'late' });
  t.is(webhooksFor(c.payment_id).length, 0);
  t.is((await admin('/admin/webhooks/release')).status, 204);
  const [hook] = await eventually(() => (webhooksFor(c.payment_id).length > 0 ? webhooksFor(c.payment_id) : undefined));
  t.is(hook?.event.type, 'payment.paid');
});

test.serial('fault reorder: two events arrive newest first', async (t) => {
  t.is((await admin('/admin/faults', { webhooks: { mode: 'reorder', count: 2 } })).status, 204);
  const a = await checkout(1_000);
  await pay(a.checkout_url, '4571000000000001');
  t.like((await eventsAtProvider(a.payment_id))[0], { state: 'held', fault: 'reorder' });
  const b = await checkout(1_000);
  await pay(b.checkout_url, '4571000000000001');
  await eventually(() =>
    webhooksFor(a.payment_id).length > 0 && webhooksFor(b.payment_id).length > 0 ? true : undefined,
  );
  const order = receiver.received.filter(
    (r) => r.event.payment_id === a.payment_id || r.event.payment_id === b.payment_id,
  );
  t.deepEqual(
    order.map((r) => r.event.payment_id),
    [b.payment_id, a.payment_id],
  );
  t.true((order[0]?.event.sequence ?? 0) > (order[1]?.event.sequence ?? 0));
});

test.serial('the admin endpoint refuses a fault it does not know', async (t) => {
  t.is((await admin('/admin/faults', { webhooks: { mode: 'explode' } })).status, 400);
  t.is((await admin('/admin/faults', { api: { mode: 'timeout', count: 1000 } })).status, 400);
  t.is((await admin('/admin/faults', {})).status, 400);
  t.truthy(await checkout(100), 'nothing was planned');
});

test('the payments config: fake and nexi shapes with defaults; a bad one is config_invalid with the path', (t) => {
  const nexi = withDefaults(PaymentsConfig, {
    provider: 'nexi',
    secret_key: 'test-secret-key-0123456789abcdef',
    webhook_url: 'https://kantine.example.dk/payments/webhook',
    webhook_authorization: 'Abc123def456ghi7',
  });
  t.like(nexi, { api_url: 'https://test.api.dibspayment.eu', checkout_language: 'da-DK', request_timeout_ms: 10_000 });
  const bad = t.throws(() =>
    withDefaults(PaymentsConfig, {
      provider: 'nexi',
      secret_key: 'test-secret-key-0123456789abcdef',
      webhook_url: 'http://kantine.example.dk/payments/webhook',
      webhook_authorization: 'has spaces!',
    }),
  );
  t.is(code(bad), 'config_invalid');
  t.is(code(t.throws(() => withDefaults(PaymentsConfig, { provider: 'stripe' }))), 'config_invalid');
});
