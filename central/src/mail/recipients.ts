import type { Sql } from '../db/db.ts';

/**
 * Where central mails a person, and in which language: the e-mail they chose on "Profil", else
 * the one their sign-in gave; undefined when there is neither. Read in the caller's transaction
 * (a receipt is queued in the payment's).
 */
export async function mailAddressOf(
  sql: Sql,
  personId: string,
): Promise<{ address: string; lang: 'da' | 'en' } | undefined> {
  const [p] = await sql.query<{ address: string | null; lang: 'da' | 'en' | null }>(
    'SELECT COALESCE(contact_email, email) AS address, lang FROM people WHERE id = $1',
    [personId],
  );
  return p?.address ? { address: p.address, lang: p.lang ?? 'da' } : undefined;
}

/** The guardians of an account that central can mail (receipts, alerts), each once. */
export async function guardianAddresses(
  sql: Sql,
  accountId: string,
): Promise<{ person_id: string; address: string; lang: 'da' | 'en' }[]> {
  return sql.query<{ person_id: string; address: string; lang: 'da' | 'en' }>(
    `SELECT p.id AS person_id, COALESCE(p.contact_email, p.email) AS address, COALESCE(p.lang, 'da') AS lang
       FROM account_guardians g JOIN people p ON p.id = g.person_id
      WHERE g.account_id = $1 AND g.role = 'guardian' AND COALESCE(p.contact_email, p.email) IS NOT NULL
      ORDER BY p.id`,
    [accountId],
  );
}
