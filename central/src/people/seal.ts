import { randomUUID } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import type { Db } from '../db/db.ts';
import type { CprCrypto } from './cpr.ts';

/**
 * Central's start-up step after the migrations, the one that needs the CPR key: checks that the
 * database was sealed with this key (its key check value; the first start writes it), seals any
 * plaintext CPR number an older central left (accounts.cpr, guardians.cpr) and drops those
 * columns and the old guardians table. The old guardians' ties to children become guardianship
 * (or relation) by CPR number, bound when the person signs in. One transaction: a crash leaves
 * the plaintext as it was, for the next start.
 */
export async function sealCprAtStart(db: Db, cpr: CprCrypto): Promise<{ accounts: number; guardian_cprs: number }> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(20261217)');
    const [check] = await tx.query<{ kcv: Uint8Array }>('SELECT kcv FROM cpr_key_check');
    const kcv = cpr.keyCheck();
    if (!check) await tx.query('INSERT INTO cpr_key_check (one, kcv) VALUES (1, $1)', [kcv]);
    else if (!Buffer.from(check.kcv).equals(kcv)) {
      throw new KantineError(
        'cpr_key_wrong',
        'the CPR numbers in this database were sealed with another CPR key than the one central was given',
        ['start central with the key the database was sealed with (KANTINE_CPR_KEY or the key file)'],
      );
    }
    let accounts = 0;
    let guardian_cprs = 0;
    const [plainColumn] = await tx.query(
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'cpr'",
    );
    if (plainColumn) {
      for (const r of await tx.query<{ id: string; cpr: string }>(
        'SELECT id, cpr FROM accounts WHERE cpr IS NOT NULL',
      )) {
        await tx.query('UPDATE accounts SET cpr_hmac = $2, cpr_enc = $3 WHERE id = $1', [
          r.id,
          cpr.hmac(r.cpr),
          cpr.seal(r.cpr),
        ]);
        accounts++;
      }
      await tx.query('ALTER TABLE accounts DROP COLUMN cpr');
    }
    const [legacy] = await tx.query<{ t: string | null }>("SELECT to_regclass('guardians')::text AS t");
    if (legacy?.t) {
      const ties = await tx.query<{ account_id: string; role: string; cpr: string }>(
        `SELECT l.account_id, l.role, g.cpr FROM legacy_account_guardians l JOIN guardians g ON g.id = l.guardian_id
         WHERE g.cpr IS NOT NULL ORDER BY l.account_id, l.role`,
      );
      for (const r of ties) {
        // a guardian tie wins over a relation tie for the same number
        await tx.query(
          `INSERT INTO account_guardian_cprs (id, account_id, cpr_hmac, cpr_enc, role, since)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (account_id, cpr_hmac) DO UPDATE SET role =
             CASE WHEN account_guardian_cprs.role = 'guardian' OR excluded.role = 'guardian' THEN 'guardian' ELSE 'relation' END`,
          [randomUUID(), r.account_id, cpr.hmac(r.cpr), cpr.seal(r.cpr), r.role],
        );
        guardian_cprs++;
      }
      await tx.query('DROP TABLE legacy_account_guardians');
      await tx.query('DROP TABLE guardians');
    }
    return { accounts, guardian_cprs };
  });
}
