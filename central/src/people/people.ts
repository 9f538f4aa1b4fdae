import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { KantineError, typedCardNumber } from '@kantine/protocol';
import { lockAccount } from '../accounts/rows.ts';
import { attempts } from '../attempts/attempts.ts';
import type { AuditService } from '../audit/audit.ts';
import type { StaffRole } from '../auth/actor.ts';
import type { Sql } from '../db/db.ts';
import type { Store, Tx } from '../db/tx.ts';
import { type CprCrypto, maskCpr } from './cpr.ts';

/** What the identity provider said of a person who signed in (the relying party's claims). */
export interface SignInClaims {
  issuer: string;
  sub: string;
  uuid?: string | null;
  name: string;
  email?: string | null;
  /** Ten digits (a dash allowed), confirmed by MitID. */
  cpr: string;
}

export type AccountRole = 'guardian' | 'relation';
export type GrantableRole = 'office' | 'admin' | 'finance';

/** A staff role granted by CPR number (`site_id` for office staff only). */
export interface RoleGrant {
  cpr_masked: string;
  role: GrantableRole;
  site_id: string | null;
  /** The person holding it, once they have signed in. */
  person_id: string | null;
  name: string | null;
  granted_at: Date | string;
}

// Bounds (why: a guardian's page lists them all; an account is one child's).
const RELATIONS_PER_ACCOUNT_MAX = 20;
const GUARDIAN_CPRS_PER_ACCOUNT_MAX = 6;
const INVITE_DAYS = 7;

/** How many failed attempts at adding a child, per person and per source address, in a window. */
export interface AttemptLimits {
  window_s: number;
  per_person: number;
  per_source: number;
}
// 5 guesses per person in 15 minutes is plenty for typing slips and far too few to search
// 10-digit CPR numbers × 8-character card numbers; a source (a school's NAT) gets more.
export const DEFAULT_ATTEMPT_LIMITS: AttemptLimits = { window_s: 15 * 60, per_person: 5, per_source: 30 };

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * People who sign in (guardians, relations, school office staff, the municipality's
 * administrators and finance), keyed by their identity provider and its subject; their CPR
 * number only as a keyed HMAC and a sealed copy. What a person may do comes from:
 * - the child's record: the CPR numbers of the child's guardians (set at import or by the school
 *   office) and of relations a guardian added, bound to the person when they sign in;
 * - staff roles granted by CPR number (office per site, admin, finance), read at every request;
 * - adding a child's account by the child's CPR number and card number (a listed guardian only);
 * - an e-mailed invitation a guardian made (a relation).
 * A relation never gets a guardian's powers by any of the relation paths.
 */
export class PeopleService {
  constructor(
    private readonly store: Store,
    readonly cpr: CprCrypto,
    private readonly audit?: AuditService,
    private readonly limits: AttemptLimits = DEFAULT_ATTEMPT_LIMITS,
  ) {}

  /** Queues the invitation's mail in the invite's transaction (central wires the mail outbox here). */
  onInvite?: (
    t: Tx,
    invite: { account_id: string; invited_by: string; email: string; token: string; expires_at: Date },
  ) => Promise<void>;

  /**
   * A person signed in: found by (issuer, sub), else by their CPR number (the same person through
   * another provider or a new subject), else made. Their guardianships and relations waiting on
   * children's records under their CPR number are bound to them now.
   */
  async signIn(c: SignInClaims): Promise<{ person_id: string }> {
    if (!c.issuer || !c.sub) throw new KantineError('invalid_request', 'a sign-in needs the issuer and the subject');
    const hmac = this.cpr.hmac(c.cpr); // checks the form; the number never in the error
    const name = String(c.name ?? '').slice(0, 200) || '?';
    const email = c.email ? String(c.email).slice(0, 200) : null;
    const uuid = c.uuid ? String(c.uuid).slice(0, 200) : null;
    const result = await this.store.tx(async (t) => {
      // one sign-in per CPR number at a time: two first sign-ins at once make one person
      await t.sql.query("SELECT pg_advisory_xact_lock(20261217, hashtext(encode($1::bytea, 'hex')))", [hmac]);
      const [bySub] = await t.sql.query<{ id: string; cpr_hmac: Uint8Array }>(
        'SELECT id, cpr_hmac FROM people WHERE issuer = $1 AND sub = $2 FOR UPDATE',
        [c.issuer, c.sub],
      );
      let id: string;
      let made = false;
      if (bySub) {
        if (!Buffer.from(bySub.cpr_hmac).equals(hmac)) throw new KantineError('cpr_mismatch');
        id = bySub.id;
        await t.sql.query('UPDATE people SET name = $2, email = $3, uuid = $4, last_sign_in_at = $5 WHERE id = $1', [
          id,
          name,
          email,
          uuid,
          t.now,
        ]);
      } else {
        const [byCpr] = await t.sql.query<{ id: string }>('SELECT id FROM people WHERE cpr_hmac = $1 FOR UPDATE', [
          hmac,
        ]);
        if (byCpr) {
          id = byCpr.id;
          await t.sql.query(
            'UPDATE people SET issuer = $2, sub = $3, name = $4, email = $5, uuid = $6, last_sign_in_at = $7 WHERE id = $1',
            [id, c.issuer, c.sub, name, email, uuid, t.now],
          );
        } else {
          id = randomUUID();
          made = true;
          await t.sql.query(
            `INSERT INTO people (id, issuer, sub, uuid, name, email, cpr_hmac, cpr_enc, created_at, last_sign_in_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
            [id, c.issuer, c.sub, uuid, name, email, hmac, this.cpr.seal(c.cpr), t.now],
          );
        }
      }
      const bound = await bindWaiting(t, id, hmac);
      return { id, made, bound };
    });
    if (this.audit && (result.made || result.bound.length)) {
      await this.audit.write({
        actor: {
          kind: 'person',
          person_id: result.id,
          name,
          session_id: '',
          staff: [],
          office_sites: [],
          account_role: null,
          role: 'person',
        },
        action: 'people sign-in',
        target: {
          person: result.id,
          ...(result.made ? { made: 'yes' } : {}),
          ...(result.bound.length ? { bound: result.bound.join(',').slice(0, 100) } : {}),
        },
      });
    }
    return { person_id: result.id };
  }

  /** A person's name and staff roles (the API's PersonAuth); `bad_credentials` if they are gone. */
  async person(id: string): Promise<{ name: string; staff: StaffRole[]; office_sites: string[] }> {
    const [p] = await this.store.db.query<{ name: string }>('SELECT name FROM people WHERE id = $1', [id]);
    if (!p) throw new KantineError('bad_credentials', 'the person of this session is gone');
    return { name: p.name, ...(await this.roles(id)) };
  }

  /** The staff roles granted to the person's CPR number. */
  async roles(id: string): Promise<{ staff: StaffRole[]; office_sites: string[] }> {
    const rows = await this.store.db.query<{ role: GrantableRole; site_id: string }>(
      `SELECT r.role, r.site_id FROM person_roles r JOIN people p ON p.cpr_hmac = r.cpr_hmac
       WHERE p.id = $1 ORDER BY r.role, r.site_id`,
      [id],
    );
    return {
      staff: rows.filter((r) => r.role !== 'office').map((r) => r.role as StaffRole),
      office_sites: rows.filter((r) => r.role === 'office').map((r) => r.site_id),
    };
  }

  /** The person's own profile: never the CPR number, only its masked form. */
  async profile(id: string): Promise<{
    id: string;
    name: string;
    email: string | null;
    cpr_masked: string;
    staff: StaffRole[];
    office_sites: string[];
    accounts: { account_id: string; role: AccountRole }[];
  }> {
    const [p] = await this.store.db.query<{ id: string; name: string; email: string | null; cpr_enc: Uint8Array }>(
      'SELECT id, name, email, cpr_enc FROM people WHERE id = $1',
      [id],
    );
    if (!p) throw new KantineError('not_found', `no person ${id}`);
    const accounts = await this.store.db.query<{ account_id: string; role: AccountRole }>(
      'SELECT account_id, role FROM account_guardians WHERE person_id = $1 ORDER BY account_id',
      [id],
    );
    return {
      id: p.id,
      name: p.name,
      email: p.email,
      cpr_masked: this.cpr.maskSealed(p.cpr_enc),
      ...(await this.roles(id)),
      accounts,
    };
  }

  /** The person's role on an account: guardian, relation or none. */
  async onAccount(personId: string, accountId: string): Promise<AccountRole | null> {
    const [r] = await this.store.db.query<{ role: AccountRole }>(
      'SELECT role FROM account_guardians WHERE person_id = $1 AND account_id = $2',
      [personId, accountId],
    );
    return r?.role ?? null;
  }

  // ── Staff roles ────────────────────────────────────────────────────────────────────────────

  /** Grants a staff role to a CPR number (before or after its first sign-in). */
  async grantRole(cpr: string, role: GrantableRole, site?: string | null): Promise<void> {
    const siteId = siteOf(role, site);
    await this.store.tx(async (t) => {
      if (siteId) {
        const [s] = await t.sql.query('SELECT 1 FROM sites WHERE id = $1', [siteId]);
        if (!s) throw new KantineError('not_found', `no site ${siteId}`);
      }
      await t.sql.query(
        `INSERT INTO person_roles (cpr_hmac, cpr_enc, role, site_id, granted_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING`,
        [this.cpr.hmac(cpr), this.cpr.seal(cpr), role, siteId, t.now],
      );
    });
  }

  /** Takes a staff role from a CPR number; false if it did not hold it. */
  async revokeRole(cpr: string, role: GrantableRole, site?: string | null): Promise<boolean> {
    const rows = await this.store.db.query(
      'DELETE FROM person_roles WHERE cpr_hmac = $1 AND role = $2 AND site_id = $3 RETURNING 1',
      [this.cpr.hmac(cpr), role, siteOf(role, site)],
    );
    return rows.length > 0;
  }

  /** Every staff role granted, CPR numbers masked. */
  async listRoles(): Promise<RoleGrant[]> {
    const rows = await this.store.db.query<{
      cpr_enc: Uint8Array;
      role: GrantableRole;
      site_id: string;
      person_id: string | null;
      name: string | null;
      granted_at: Date | string;
    }>(
      `SELECT r.cpr_enc, r.role, r.site_id, p.id AS person_id, p.name, r.granted_at
       FROM person_roles r LEFT JOIN people p ON p.cpr_hmac = r.cpr_hmac ORDER BY r.role, r.site_id, r.granted_at`,
    );
    return rows.map((r) => ({
      cpr_masked: this.cpr.maskSealed(r.cpr_enc),
      role: r.role,
      site_id: r.site_id || null,
      person_id: r.person_id,
      name: r.name,
      granted_at: r.granted_at,
    }));
  }

  // ── Guardianship by CPR number, on the child's record ─────────────────────────────────────

  /** Sets a child's own CPR number on their account (`cpr_taken` if another child has it). */
  async setAccountCpr(accountId: string, cpr: string): Promise<void> {
    const hmac = this.cpr.hmac(cpr);
    await this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const [other] = await t.sql.query('SELECT 1 FROM accounts WHERE cpr_hmac = $1 AND id <> $2', [hmac, accountId]);
      if (other) throw new KantineError('cpr_taken');
      await t.sql.query('UPDATE accounts SET cpr_hmac = $2, cpr_enc = $3 WHERE id = $1', [
        accountId,
        hmac,
        this.cpr.seal(cpr),
      ]);
    });
  }

  /**
   * The CPR numbers of the child's guardians (the school office's or the import's word): the
   * list replaces the one before. A person whose number leaves the list is no longer the child's
   * guardian; a listed person becomes guardian at their next sign-in, or at once by adding the
   * child's account.
   */
  async setGuardianCprs(accountId: string, cprs: readonly string[], byPerson?: string): Promise<void> {
    if (cprs.length > GUARDIAN_CPRS_PER_ACCOUNT_MAX) {
      throw new KantineError('invalid_request', `at most ${GUARDIAN_CPRS_PER_ACCOUNT_MAX} guardians per child`);
    }
    const hmacs = cprs.map((c) => this.cpr.hmac(c));
    await this.store.tx(async (t) => {
      if (byPerson !== undefined) {
        const [self] = await t.sql.query<{ cpr_hmac: Uint8Array }>('SELECT cpr_hmac FROM people WHERE id = $1', [
          byPerson,
        ]);
        if (self && hmacs.some((h) => Buffer.from(self.cpr_hmac).equals(h))) {
          throw new KantineError('guardian_self_refused');
        }
      }
      await lockAccount(t, accountId);
      const keep = hmacs.map((h) => h.toString('hex'));
      await t.sql.query(
        `DELETE FROM account_guardians g USING people p
         WHERE g.account_id = $1 AND g.role = 'guardian' AND p.id = g.person_id
           AND NOT (encode(p.cpr_hmac, 'hex') = ANY($2::text[]))`,
        [accountId, keep],
      );
      await t.sql.query(
        `DELETE FROM account_guardian_cprs WHERE account_id = $1 AND role = 'guardian'
           AND NOT (encode(cpr_hmac, 'hex') = ANY($2::text[]))`,
        [accountId, keep],
      );
      for (const [i, c] of cprs.entries()) {
        await t.sql.query(
          `INSERT INTO account_guardian_cprs (id, account_id, cpr_hmac, cpr_enc, role, since)
           VALUES ($1, $2, $3, $4, 'guardian', $5)
           ON CONFLICT (account_id, cpr_hmac) DO UPDATE SET role = 'guardian'`,
          [randomUUID(), accountId, hmacs[i], this.cpr.seal(c), t.now],
        );
      }
    });
  }

  /** The guardian CPR numbers on a child's record, masked, and whether each has signed in. */
  async guardianCprs(accountId: string): Promise<{ cpr_masked: string; person_id: string | null }[]> {
    const rows = await this.store.db.query<{ cpr_enc: Uint8Array; person_id: string | null }>(
      `SELECT g.cpr_enc, p.id AS person_id FROM account_guardian_cprs g LEFT JOIN people p ON p.cpr_hmac = g.cpr_hmac
       WHERE g.account_id = $1 AND g.role = 'guardian' ORDER BY g.since, g.id`,
      [accountId],
    );
    return rows.map((r) => ({ cpr_masked: this.cpr.maskSealed(r.cpr_enc), person_id: r.person_id }));
  }

  // ── Adding a child's account ───────────────────────────────────────────────────────────────

  /**
   * A guardian adds their child's account by the child's CPR number and the card's printed
   * number. It matches only when the CPR number is the account's, the card is on that account,
   * and the person's own CPR number is listed as a guardian on the child's record. Every failure
   * is the same `account_not_matched` (whether a CPR number exists stays unsaid) and counts
   * against the person and the source address; too many in the window: `too_many_attempts`.
   */
  async addChild(
    personId: string,
    source: string,
    typed: { cpr: string; card_number: string },
  ): Promise<{ account_id: string }> {
    const buckets = [
      { key: `person:${personId}`, max: this.limits.per_person },
      { key: `source:${source.slice(0, 60)}`, max: this.limits.per_source },
    ];
    const outcome = await this.store.tx(async (t) => {
      await attempts.guard(t, buckets, this.limits.window_s);
      const account = await this.match(t.sql, personId, typed);
      if (!account) {
        await attempts.count(t, buckets);
        return undefined;
      }
      await bind(t.sql, account, personId, 'guardian', t.now);
      return account;
    });
    if (!outcome) throw new KantineError('account_not_matched');
    return { account_id: outcome };
  }

  private async match(
    sql: Sql,
    personId: string,
    typed: { cpr: string; card_number: string },
  ): Promise<string | undefined> {
    const card = typeof typed.card_number === 'string' ? typedCardNumber(typed.card_number) : undefined;
    if (!card || typeof typed.cpr !== 'string' || !/^[0-9]{6}-?[0-9]{4}$/.test(typed.cpr)) return undefined;
    const [row] = await sql.query<{ id: string }>(
      `SELECT a.id FROM accounts a
       JOIN cards c ON c.account_id = a.id AND right(c.card_number, 9) = $2 AND c.state IN ('active', 'blocked')
       JOIN people p ON p.id = $3
       JOIN account_guardian_cprs g ON g.account_id = a.id AND g.cpr_hmac = p.cpr_hmac AND g.role = 'guardian'
       WHERE a.cpr_hmac = $1`,
      [this.cpr.hmac(typed.cpr), card, personId],
    );
    return row?.id;
  }

  // ── Relations ──────────────────────────────────────────────────────────────────────────────

  /**
   * A guardian invites a relation by e-mail: a link token, single use, valid 7 days; only its
   * SHA-256 is kept. The mail goes through `onInvite` (the mail outbox); the caller gets the token too.
   */
  async inviteByEmail(
    accountId: string,
    byPerson: string,
    email: string,
  ): Promise<{ invite_id: string; token: string; expires_at: Date }> {
    const token = randomBytes(32).toString('base64url');
    const id = randomUUID();
    const expires = await this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      await this.refuseTooManyRelations(t, accountId);
      const at = new Date(t.now.getTime() + INVITE_DAYS * 86_400_000);
      await t.sql.query(
        `INSERT INTO relation_invites (id, token_sha256, account_id, email, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, sha256(token), accountId, email, byPerson, t.now, at],
      );
      await this.onInvite?.(t, { account_id: accountId, invited_by: byPerson, email, token, expires_at: at });
      return at;
    });
    return { invite_id: id, token, expires_at: expires };
  }

  /**
   * A guardian adds a relation by the relation's CPR number: bound at the relation's next sign-in,
   * never at once — the answer and the list are the same whether the number belongs to someone
   * who has signed in (no CPR number → name look-up for a guardian). A guardian stays a guardian.
   */
  async inviteByCpr(accountId: string, cpr: string): Promise<{ id: string }> {
    const hmac = this.cpr.hmac(cpr);
    return this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const [existing] = await t.sql.query<{ id: string }>(
        'SELECT id FROM account_guardian_cprs WHERE account_id = $1 AND cpr_hmac = $2',
        [accountId, hmac],
      );
      if (existing) return { id: existing.id };
      await this.refuseTooManyRelations(t, accountId);
      const id = randomUUID();
      await t.sql.query(
        `INSERT INTO account_guardian_cprs (id, account_id, cpr_hmac, cpr_enc, role, since) VALUES ($1, $2, $3, $4, 'relation', $5)`,
        [id, accountId, hmac, this.cpr.seal(cpr), t.now],
      );
      return { id };
    });
  }

  private async refuseTooManyRelations(t: Tx, accountId: string): Promise<void> {
    const [n] = await t.sql.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM account_guardian_cprs WHERE account_id = $1 AND role = 'relation')
            + (SELECT count(*) FROM relation_invites WHERE account_id = $1 AND used_at IS NULL AND expires_at > $2)
            + (SELECT count(*) FROM account_guardians WHERE account_id = $1 AND role = 'relation') AS n`,
      [accountId, t.now],
    );
    if (Number(n?.n ?? 0) >= RELATIONS_PER_ACCOUNT_MAX) {
      throw new KantineError(
        'invalid_request',
        `at most ${RELATIONS_PER_ACCOUNT_MAX} relations and invitations per child`,
      );
    }
  }

  /** A signed-in person accepts an e-mailed invitation: they become a relation of the child. */
  async acceptInvite(personId: string, token: string): Promise<{ account_id: string }> {
    return this.store.tx(async (t) => {
      // An invitation holds only while the guardian who made it still is one, and is for someone
      // else: a guardian the office removed cannot come back as a relation with links they kept.
      const [inv] = await t.sql.query<{ id: string; account_id: string }>(
        `SELECT i.id, i.account_id FROM relation_invites i
         WHERE i.token_sha256 = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND i.invited_by <> $3
           AND EXISTS (SELECT 1 FROM account_guardians g
                       WHERE g.account_id = i.account_id AND g.person_id = i.invited_by AND g.role = 'guardian')
         FOR UPDATE OF i`,
        [sha256(token), t.now, personId],
      );
      if (!inv) throw new KantineError('invite_invalid');
      await t.sql.query('UPDATE relation_invites SET used_at = $2, used_by = $3 WHERE id = $1', [
        inv.id,
        t.now,
        personId,
      ]);
      await bind(t.sql, inv.account_id, personId, 'relation', t.now);
      return { account_id: inv.account_id };
    });
  }

  /** A child's relations: people, CPR numbers not yet bound (masked), open invitations. */
  async relations(accountId: string): Promise<{
    people: { id: string; name: string; since: Date | string }[];
    waiting: { id: string; cpr_masked: string; since: Date | string }[];
    invites: { id: string; email: string; expires_at: Date | string }[];
  }> {
    const { db } = this.store;
    const people = await db.query<{ id: string; name: string; since: Date | string }>(
      `SELECT p.id, p.name, g.since FROM account_guardians g JOIN people p ON p.id = g.person_id
       WHERE g.account_id = $1 AND g.role = 'relation' ORDER BY g.since, p.id`,
      [accountId],
    );
    const waiting = await db.query<{ id: string; cpr_enc: Uint8Array; since: Date | string }>(
      `SELECT g.id, g.cpr_enc, g.since FROM account_guardian_cprs g
       WHERE g.account_id = $1 AND g.role = 'relation' AND NOT EXISTS (
         SELECT 1 FROM account_guardians a JOIN people p ON p.id = a.person_id
         WHERE a.account_id = g.account_id AND p.cpr_hmac = g.cpr_hmac)
       ORDER BY g.since, g.id`,
      [accountId],
    );
    const invites = await db.query<{ id: string; email: string; expires_at: Date | string }>(
      `SELECT id, email, expires_at FROM relation_invites WHERE account_id = $1 AND used_at IS NULL AND expires_at > $2
       ORDER BY created_at, id`,
      [accountId, this.store.clock.now()],
    );
    return {
      people,
      waiting: waiting.map((w) => ({ id: w.id, cpr_masked: this.cpr.maskSealed(w.cpr_enc), since: w.since })),
      invites,
    };
  }

  /**
   * Removes a relation from a child: a person (their tie and the CPR number that bound it), a
   * CPR number not yet signed in, or an open invitation — by the id `relations` lists. Never a
   * guardian: `not_found`.
   */
  async removeRelation(accountId: string, id: string): Promise<void> {
    await this.store.tx(async (t) => {
      await lockAccount(t, accountId);
      const gone = await t.sql.query<{ person_id: string }>(
        "DELETE FROM account_guardians WHERE account_id = $1 AND person_id = $2 AND role = 'relation' RETURNING person_id",
        [accountId, id],
      );
      let n = gone.length;
      if (n) {
        n += (
          await t.sql.query(
            `DELETE FROM account_guardian_cprs g USING people p
             WHERE g.account_id = $1 AND g.role = 'relation' AND p.id = $2 AND g.cpr_hmac = p.cpr_hmac RETURNING 1`,
            [accountId, id],
          )
        ).length;
      }
      const waiting = await t.sql.query<{ cpr_hmac: Uint8Array }>(
        "DELETE FROM account_guardian_cprs WHERE account_id = $1 AND id = $2 AND role = 'relation' RETURNING cpr_hmac",
        [accountId, id],
      );
      for (const w of waiting) {
        await t.sql.query(
          `DELETE FROM account_guardians g USING people p
           WHERE g.account_id = $1 AND g.role = 'relation' AND g.person_id = p.id AND p.cpr_hmac = $2`,
          [accountId, w.cpr_hmac],
        );
      }
      n += waiting.length;
      n += (
        await t.sql.query(
          'UPDATE relation_invites SET expires_at = $3 WHERE account_id = $1 AND id = $2 AND used_at IS NULL RETURNING 1',
          [accountId, id, t.now],
        )
      ).length;
      if (!n) throw new KantineError('not_found', `no relation ${id} on account ${accountId}`);
      // A guardian's webshop permission goes with the tie: added again, the relation starts not allowed.
      await t.sql.query(
        `DELETE FROM webshop_relations w WHERE w.account_id = $1 AND NOT EXISTS (
           SELECT 1 FROM account_guardians g WHERE g.account_id = w.account_id AND g.person_id = w.person_id AND g.role = 'relation')`,
        [accountId],
      );
    });
  }
}

function siteOf(role: GrantableRole, site: string | null | undefined): string {
  if (role === 'office') {
    if (!site) throw new KantineError('invalid_request', 'an office role is for one site (--site)');
    return site;
  }
  if (site) throw new KantineError('invalid_request', `the ${role} role is for every site: give no site`);
  return '';
}

/**
 * Ties a person to an account. Only a guardian tie makes a guardian: a relation tie never
 * changes a guardian into a relation, nor a relation into a guardian.
 */
async function bind(sql: Sql, accountId: string, personId: string, role: AccountRole, now: Date): Promise<void> {
  await sql.query(
    `INSERT INTO account_guardians (account_id, person_id, role, since) VALUES ($1, $2, $3, $4)
     ON CONFLICT (account_id, person_id) DO UPDATE SET role =
       CASE WHEN excluded.role = 'guardian' THEN 'guardian' ELSE account_guardians.role END`,
    [accountId, personId, role, now],
  );
}

/** Binds what waits under a CPR number on children's records; the accounts bound (new or changed). */
async function bindWaiting(t: Tx, personId: string, hmac: Buffer): Promise<string[]> {
  const waiting = await t.sql.query<{ account_id: string; role: AccountRole }>(
    `SELECT g.account_id, g.role FROM account_guardian_cprs g
     LEFT JOIN account_guardians a ON a.account_id = g.account_id AND a.person_id = $2
     WHERE g.cpr_hmac = $1 AND (a.role IS NULL OR (a.role = 'relation' AND g.role = 'guardian'))
     ORDER BY g.account_id`,
    [hmac, personId],
  );
  for (const w of waiting) await bind(t.sql, w.account_id, personId, w.role, t.now);
  return waiting.map((w) => w.account_id);
}

export { maskCpr };
