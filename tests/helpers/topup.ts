/**
 * Central with sign-in and the fake payment provider (a real process) on real Postgres, for the
 * top-up tests: Emma's account at Søndervang, Noah's and Freja's at no site; Anne is Emma's and
 * Noah's guardian, Karen Emma's relation, Peter Freja's guardian, Mette finance.
 */
import { type Central, seedDemoPeople } from '@kantine/central';
import { DEMO_CHILDREN, DEMO_PEOPLE } from '@kantine/idp';
import type { ExecutionContext } from 'ava';
import type { TEST_MAIL_OUTBOX } from './central.ts';
import { type RunningPsp, startPsp } from './psp.ts';
import { type SignedIn, signIn, startCentralWithIdp } from './sign-in.ts';

export interface TopupRig {
  central: Central;
  base: string;
  psp: RunningPsp;
  people: Record<'anne' | 'karen' | 'lone' | 'peter' | 'mette', SignedIn>;
  finance: string;
  admin: string;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field in tests
export type Answer = { status: number; body: any; text: string; headers: Headers };

export async function topupRig(
  t: ExecutionContext,
  opts: {
    payments?: Record<string, unknown> | null;
    workers?: number;
    clock?: { now(): Date };
    /** The mail outbox's timing (`HELD_MAIL_OUTBOX` for a test that reads a queued receipt). */
    mailOutbox?: typeof TEST_MAIL_OUTBOX;
  } = {},
): Promise<TopupRig> {
  const psp = await startPsp(t);
  const payments = opts.payments === null ? undefined : psp.config(opts.payments);
  const c = await startCentralWithIdp(t, {
    workers: opts.workers ?? 1,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(payments ? { config: { payments } } : {}),
    ...(opts.mailOutbox ? { mailOutbox: opts.mailOutbox } : {}),
  });
  const central = c.services[0]?.central as Central;
  const base = c.http[0] as string;
  await psp.admin('POST', '/admin/config', { webhook_url: `${base}/payments/webhook` });
  await central.sites.put({ id: 'soendervang', name: 'Søndervang Skole', place_kinds: ['school'] });
  await central.accounts.put({ id: 'konto-emma', first_name: 'Emma', sites: ['soendervang'] });
  await central.accounts.put({ id: 'konto-noah', first_name: 'Noah', sites: [] });
  await central.accounts.put({ id: 'konto-freja', first_name: 'Freja', sites: [] });
  await seedDemoPeople(central, { people: DEMO_PEOPLE, children: DEMO_CHILDREN, office_site: 'soendervang' });
  const people = {} as TopupRig['people'];
  for (const key of ['anne', 'karen', 'lone', 'peter', 'mette'] as const) people[key] = await signIn(base, c.idp, key);
  return {
    central,
    base,
    psp,
    people,
    finance: (await central.tokens.add('finance', 'topup-tests')).token,
    admin: (await central.tokens.add('admin', 'topup-tests')).token,
  };
}

/** A request as a signed-in person (with the session's CSRF token) or with a token. */
export async function call(
  r: { base: string },
  who: SignedIn | string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const auth: Record<string, string> =
    who === null
      ? {}
      : typeof who === 'string'
        ? { authorization: `Bearer ${who}` }
        : { cookie: who.cookie, ...(method !== 'GET' ? { 'x-csrf-token': who.csrf } : {}) };
  const res = await fetch(`${r.base}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export async function balance(central: Central, account: string): Promise<number> {
  return Number((await central.accounts.get(account))?.balance_ore);
}

/** Every balance, entry and intent: what a refusal must leave as it was. */
export async function books(central: Central): Promise<string> {
  const db = central.db;
  return JSON.stringify([
    await db.query('SELECT id, balance_ore FROM accounts ORDER BY id'),
    await db.query('SELECT id, account_id, kind, amount_ore FROM entries ORDER BY seq'),
    await db.query('SELECT id, state, amount_ore FROM payment_intents ORDER BY id'),
  ]);
}

/** The deposits booked for an intent (its entry id is the intent's id). */
export async function depositsOf(central: Central, intent: string): Promise<number> {
  const rows = await central.db.query('SELECT 1 FROM entries WHERE id = $1', [intent]);
  return rows.length;
}

/** Starts a top-up as `who` and returns the intent and the provider's page. */
export async function startTopup(
  r: TopupRig,
  who: SignedIn,
  account: string,
  amount_ore: number,
): Promise<{ intent_id: string; checkout_url: string }> {
  const res = await call(r, who, 'POST', `/api/accounts/${account}/topups`, { amount_ore, terms_accepted: true });
  if (res.status !== 201) throw new Error(`top-up refused: ${res.status} ${res.text}`);
  return res.body;
}
