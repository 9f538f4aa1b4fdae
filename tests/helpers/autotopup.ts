/**
 * Automatic top-up's rig: the fake payment provider and the mail catcher as real processes,
 * central (embedded) configured with both, a guardian with an e-mail address, a child's account
 * with a card at a linked site, and agreements made through the provider's hosted page.
 */
import type { ChildProcess } from 'node:child_process';
import type { Central } from '@kantine/central';
import type { LinkDown, UnsequencedUp, UpChange } from '@kantine/protocol';
import type { ExecutionContext } from 'ava';
import { siteLogin, startCentral, type TestCentral } from './central.ts';
import { freePort, spawnService, stopGracefully } from './process.ts';
import { spawnFakePsp } from './psp.ts';
import { startSite, type TestSite } from './site.ts';
import { eventually, until } from './wait.ts';

/** An agreement as central keeps it. */
export type Agreement = NonNullable<Awaited<ReturnType<Central['autotopup']['agreement']>>>;

export const API_KEY = 'autotopup-api-key-0123456789';
export const WEBHOOK_SECRET = 'autotopup-webhook-secret-0123';
export const CARD = '04000000002B01';
export const ACCOUNT = 'acc-freja';
export const GUARDIAN_EMAIL = 'peter@familie.example';

/** `kantine-fake-psp` as its own process on a free port, with this file's keys. */
export async function startFakeProvider(t: ExecutionContext): Promise<{ url: string; child: ChildProcess }> {
  const provider = await spawnFakePsp([], {
    KANTINE_FAKE_PSP_API_KEY: API_KEY,
    KANTINE_FAKE_PSP_WEBHOOK_SECRET: WEBHOOK_SECRET,
  });
  t.teardown(() => stopGracefully(provider.child));
  return provider;
}

/** A mail as the catcher shows it (the fields these tests read). */
export interface CaughtMail {
  envelope: { to: string[] };
  subject: string;
  text: string;
}

/** The mail catcher (`kantine-mailcatcher`) as its own process; `mails()` reads what it caught. */
export async function startCatcher(t: ExecutionContext) {
  const [smtpPort, httpPort] = [await freePort(), await freePort()];
  const child = await spawnService(
    'central/bin/kantine-mailcatcher.mjs',
    ['--smtp-port', String(smtpPort), '--http-port', String(httpPort)],
    'ready',
  );
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  return {
    smtp_url: `smtp://127.0.0.1:${smtpPort}`,
    async mails(): Promise<CaughtMail[]> {
      return (await (await fetch(`http://127.0.0.1:${httpPort}/mails.json`)).json()) as CaughtMail[];
    },
    /** The `i`th mail caught (it must be there). */
    async mail(i: number): Promise<CaughtMail> {
      const m = (await this.mails())[i];
      if (!m) throw new Error(`no mail ${i} caught`);
      return m;
    },
  };
}

/** The provider's admin API (faults on demand, an agreement's next outcome). */
export function providerAdmin(url: string) {
  return async (path: string, body?: unknown, method = 'POST'): Promise<number> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.arrayBuffer();
    return res.status;
  };
}

/** Pays the provider's hosted page with a card, ticking the consent to keep it (a browser's form post). */
export async function payWithConsent(checkout_url: string, card = '4571000000000001', expiry = '12/30'): Promise<void> {
  const page = await (await fetch(checkout_url)).text();
  const action = /<form method="post" action="([^"]+)">/.exec(page)?.[1];
  if (!action) throw new Error('no card form on the provider page');
  const res = await fetch(new URL(action, checkout_url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ card_number: card, expiry, cvc: '123', save_card: 'yes' }).toString(),
    redirect: 'manual',
  });
  await res.arrayBuffer();
}

/**
 * An agreement made as a guardian makes it: central's checkout with `save_card_for_agreement`,
 * the hosted page's card form posted with consent, then the payment settled from the provider's
 * own answer (as the webhook or the reconciler would) — the intent's `onPaid` makes the agreement.
 */
export async function makeAgreement(
  rig: Pick<Rig, 'central' | 'guardian'>,
  amount_ore = 20_000,
  card = '4571000000000001',
  expiry = '12/30',
): Promise<Agreement> {
  const central = rig.central.service.central;
  const started = await central.autotopup.startCheckout({ account_id: ACCOUNT, person_id: rig.guardian, amount_ore });
  await payWithConsent(started.checkout_url, card, expiry);
  const intent = await central.payments?.get(started.intent_id);
  if (!intent?.provider_payment_id) throw new Error('no provider payment for the agreement checkout');
  await central.payments?.settle(intent.provider_payment_id);
  const agreement = await central.autotopup.agreement(ACCOUNT);
  if (!agreement) throw new Error('the paid checkout made no agreement');
  return agreement;
}

export interface Rig {
  central: TestCentral;
  provider: { url: string; admin: ReturnType<typeof providerAdmin> };
  catcher: Awaited<ReturnType<typeof startCatcher>>;
  guardian: string;
}

/**
 * Central with the fake provider and the mail catcher; a site `siteId`; Freja's account there
 * (its card active, `deposit_ore` deposited); Peter, her guardian, signed in once (his e-mail).
 */
export async function autotopupRig(
  t: ExecutionContext,
  opts: {
    siteId?: string;
    deposit_ore?: number;
    autotopup?: Record<string, unknown>;
    timeout_ms?: number;
    /** Freja at no site: all her money at central. */
    atNoSite?: boolean;
  } = {},
): Promise<Rig> {
  const siteId = opts.siteId ?? 'atskolen';
  const [provider, catcher] = await Promise.all([startFakeProvider(t), startCatcher(t)]);
  const central = await startCentral(t, {
    payments: {
      provider: 'fake',
      api_url: provider.url,
      api_key: API_KEY,
      webhook_secret: WEBHOOK_SECRET,
      request_timeout_ms: opts.timeout_ms ?? 2_000,
      terms_url: 'http://127.0.0.1:9/vilkaar',
      public_url: 'http://127.0.0.1:9',
    },
    mail: { smtp_url: catcher.smtp_url, from: 'Kantinen <kantine@kommune.example>' },
    autotopup: { retry_ms: 200, ...opts.autotopup },
  });
  await central.addSite(siteId);
  const ok = (r: { status: number; body: unknown }, status: number) => {
    if (r.status !== status) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
  };
  ok(
    await central.api('PUT', `/api/accounts/${ACCOUNT}`, {
      first_name: 'Freja',
      last_name: 'Lund',
      sites: opts.atNoSite ? [] : [siteId],
    }),
    204,
  );
  ok(await central.api('PUT', `/api/cards/${CARD}`, { kind: 'legacy' }), 204);
  ok(await central.api('POST', `/api/cards/${CARD}/activate`, { account_id: ACCOUNT }), 204);
  if ((opts.deposit_ore ?? 6_000) > 0)
    ok(await central.api('POST', `/api/accounts/${ACCOUNT}/deposits`, { amount_ore: opts.deposit_ore ?? 6_000 }), 201);
  const { person_id } = await central.service.central.people.signIn({
    issuer: 'https://idp.example',
    sub: 'peter',
    name: 'Peter Lund',
    email: GUARDIAN_EMAIL,
    cpr: '1105801234',
  });
  return { central, provider: { url: provider.url, admin: providerAdmin(provider.url) }, catcher, guardian: person_id };
}

/** The linked gateway for the rig's site, online, with Freja's account and money. */
export async function linkedGateway(t: ExecutionContext, rig: Rig, siteId = 'atskolen'): Promise<TestSite> {
  const link = await rig.central.addSite(siteId);
  const site = await startSite(t, { site: siteId, linked: true, config: { central: link } });
  await eventually(() => (site.gateway.central.state === 'online' ? true : undefined), 10_000, 'linked');
  await eventually(
    () => (site.ledger.accounts.getAccount(ACCOUNT) ? true : undefined),
    10_000,
    "Freja's account at the site",
  );
  return site;
}

/** A site's answer from central to a top-up request. */
export type TopupResult = Extract<Extract<LinkDown, { t: 'changes' }>['changes'][number], { kind: 'topup_result' }>;

/** A raw site over the link (its own messages, no gateway): a sale and its top-up request, and central's answers. */
export async function rawSite(t: ExecutionContext, rig: Rig, site: string) {
  const { secret } = await rig.central.addSite(site);
  const { client, got } = await siteLogin(t, rig.central, site, secret);
  const up = (msg: unknown) => client.publishAsync(`kantine/link/${site}/up`, JSON.stringify(msg), { qos: 1 });
  await up({ v: 1, t: 'hello', down_cursor: 0, up_seq: 0 });
  let seq = 0;
  return {
    async saleAndRequest(sale: string, request: string, amount_ore: number): Promise<TopupResult> {
      const changes: UnsequencedUp[] = [
        {
          kind: 'entry',
          entry: {
            id: sale,
            account_id: ACCOUNT,
            kind: 'purchase',
            amount_ore: -amount_ore,
            place_kind: 'school',
            budgets: ['balance'],
            created_at: new Date().toISOString(),
          },
        },
        { kind: 'topup', request_id: request, account_id: ACCOUNT, entry_id: sale },
      ];
      await up({ v: 1, t: 'changes', changes: changes.map((c) => ({ ...c, seq: ++seq })) as UpChange[] });
      return until(async () => this.answers(request)[0], `the answer to ${request}`, 30_000);
    },
    /** Every answer central sent down to `request`, in order. */
    answers(request: string): TopupResult[] {
      return got
        .flatMap((m) => (m.t === 'changes' ? m.changes.filter((c): c is TopupResult => c.kind === 'topup_result') : []))
        .filter((r) => r.request_id === request);
    },
  };
}
