import { randomBytes } from 'node:crypto';
import { Central, CprCrypto, type Db, openPglite, openPostgres } from '@kantine/central';
import type { ExecutionContext } from 'ava';
import { freshDatabase } from './postgres.ts';

export type DbKind = 'pglite' | 'postgres';

/** A clock the test moves by hand. */
export class TestClock {
  constructor(public at = new Date('2026-12-07T08:00:00Z')) {}
  now(): Date {
    return new Date(this.at);
  }
  advance(ms: number): void {
    this.at = new Date(this.at.getTime() + ms);
  }
}

/** Central on a fresh database (in-memory PGlite, or a new Postgres database) with a CPR key. */
export async function peopleCentral(
  t: ExecutionContext,
  kind: DbKind,
  key: Buffer = randomBytes(32),
  clock = new TestClock(),
): Promise<{ central: Central; db: Db; key: Buffer; clock: TestClock }> {
  const db = kind === 'pglite' ? await openPglite() : await openPostgres(await freshDatabase(t, 'people'));
  t.teardown(() => db.close());
  const central = new Central(db, clock, () => {}, { cpr: new CprCrypto(key) });
  await central.migrate();
  return { central, db, key, clock };
}

/** A school and a child's account at it, with the child's CPR number and a card with a printed number. */
export async function schoolWithChild(
  central: Central,
  child: { account: string; cpr: string; uid: string; card_number: string | null },
  site = 'sondervang',
): Promise<void> {
  await central.sites.put({ id: site, name: site, place_kinds: ['school'] });
  await central.accounts.put({ id: child.account, first_name: 'Barn', cpr: child.cpr, sites: [site] });
  await central.cards.put({ uid: child.uid, kind: 'legacy', card_number: child.card_number });
  await central.cards.activate(child.uid, child.account);
}

/**
 * Every CPR-looking number (with or without the dash): a date DDMMYY then four digits, standing on
 * its own — not inside a hex string or a UUID (`…-0312345678ab`, `a1234567-8901-…`), whose random
 * runs of digits would otherwise match now and then.
 */
export const CPR_ANYWHERE =
  /(?<![0-9A-Fa-f-])(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{2}-?[0-9]{4}(?![0-9A-Fa-f])/;
