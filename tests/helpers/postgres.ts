import { randomBytes } from 'node:crypto';
import { openPostgres } from '@kantine/central';
import type { ExecutionContext } from 'ava';

/** The Postgres the tests may make databases on (CI: the machine's, trust auth on 127.0.0.1). */
export const PG_URL = process.env.KANTINE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new, empty database for one test, dropped after it. Returns its URL. */
export async function freshDatabase(t: ExecutionContext, prefix: string): Promise<string> {
  const name = `kantine_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = await openPostgres(PG_URL);
  await admin.query(`CREATE DATABASE ${name}`);
  t.teardown(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  });
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
