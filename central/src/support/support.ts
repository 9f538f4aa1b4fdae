import { KantineError } from '@kantine/protocol';
import { v4 as uuidv4 } from 'uuid';
import type { Store } from '../db/tx.ts';

/** A support request ("kortet virker ikke") as the guardian, the school office and the municipality see it. */
export interface SupportRequest {
  request_id: string;
  account_id: string;
  first_name: string;
  last_name: string;
  /** The school office it went to (null: the child has no site; the municipality sees it). */
  site_id: string | null;
  person_name: string;
  message: string;
  state: 'open' | 'answered' | 'closed';
  answer: string | null;
  answered_by: string | null;
  answered_at: string | null;
  created_at: string;
}

/** The longest message or answer (characters). */
export const SUPPORT_TEXT_MAX = 2_000;
/** How many requests a person may send in a day (a script on a stolen session fills no office's inbox). */
export const SUPPORT_PER_DAY = 10;

/**
 * Support requests: a guardian writes about a child's card (free text), the request goes to the
 * office of the child's school, the office (and the municipality, for every school) answers and
 * closes it, and the guardian reads the answer in the portal. An office sees only its own site's
 * requests: another site's request is `not_found`.
 */
export class SupportService {
  constructor(private readonly store: Store) {}

  async open(accountId: string, person: { id: string; name: string }, message: string): Promise<SupportRequest> {
    const text = clean(message, 'message');
    const id = uuidv4();
    await this.store.tx(async (t) => {
      const [a] = await t.sql.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
      if (!a) throw new KantineError('not_found', `no account ${accountId}`);
      const [n] = await t.sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM support_requests WHERE person_id = $1 AND created_at > $2',
        [person.id, new Date(t.now.getTime() - 86_400_000)],
      );
      if ((n?.n ?? 0) >= SUPPORT_PER_DAY) throw new KantineError('too_many_attempts');
      const [site] = await t.sql.query<{ id: string }>(
        `SELECT s.id FROM account_sites x JOIN sites s ON s.id = x.site_id WHERE x.account_id = $1
          ORDER BY (s.place_kinds ? 'school') DESC, s.id LIMIT 1`,
        [accountId],
      );
      await t.sql.query(
        `INSERT INTO support_requests (id, account_id, site_id, person_id, person_name, message, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7)`,
        [id, accountId, site?.id ?? null, person.id, person.name, text, t.now],
      );
    });
    return (await this.get(id)) as SupportRequest;
  }

  /** The child's requests, newest first. */
  async ofAccount(accountId: string): Promise<SupportRequest[]> {
    return (
      await this.store.db.query<Row>(`${SELECT} WHERE r.account_id = $1 ORDER BY r.created_at DESC`, [accountId])
    ).map(of);
  }

  /** A site's requests (`null`: those of children at no site), the open ones first, closed ones of the last 60 days. */
  async atSite(site: string | null): Promise<SupportRequest[]> {
    return (
      await this.store.db.query<Row>(
        `${SELECT} WHERE r.site_id IS NOT DISTINCT FROM $1 AND (r.state <> 'closed' OR r.closed_at > $2)
          ORDER BY CASE r.state WHEN 'open' THEN 0 WHEN 'answered' THEN 1 ELSE 2 END, r.created_at`,
        [site, new Date(this.store.clock.now().getTime() - 60 * 86_400_000)],
      )
    ).map(of);
  }

  /** The office of `site` answers (the guardian sees it); a closed request takes no answer. `null`: the municipality, for a child at no site. */
  async answer(site: string | null, id: string, by: string, answer: string): Promise<SupportRequest> {
    const text = clean(answer, 'answer');
    await this.store.tx(async (t) => {
      const state = await lockAt(t.sql, site, id);
      if (state === 'closed') throw new KantineError('support_request_closed');
      await t.sql.query(
        "UPDATE support_requests SET answer = $2, answered_by = $3, answered_at = $4, state = 'answered' WHERE id = $1",
        [id, text, by, t.now],
      );
    });
    return (await this.get(id)) as SupportRequest;
  }

  /** The office of `site` closes the request (done); closing a closed one changes nothing. `null`: the municipality's. */
  async close(site: string | null, id: string): Promise<SupportRequest> {
    await this.store.tx(async (t) => {
      const state = await lockAt(t.sql, site, id);
      if (state !== 'closed')
        await t.sql.query("UPDATE support_requests SET state = 'closed', closed_at = $2 WHERE id = $1", [id, t.now]);
    });
    return (await this.get(id)) as SupportRequest;
  }

  private async get(id: string): Promise<SupportRequest | undefined> {
    const [row] = await this.store.db.query<Row>(`${SELECT} WHERE r.id = $1`, [id]);
    return row ? of(row) : undefined;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function lockAt(
  sql: { query<T>(q: string, p?: unknown[]): Promise<T[]> },
  site: string | null,
  id: string,
): Promise<string> {
  if (!UUID.test(id)) throw new KantineError('not_found', 'no such request');
  const [row] = await sql.query<{ state: string }>(
    'SELECT state FROM support_requests WHERE id = $1 AND site_id IS NOT DISTINCT FROM $2 FOR UPDATE',
    [id, site],
  );
  if (!row) throw new KantineError('not_found', `no request ${id} at ${site}`);
  return row.state;
}

/** A message or an answer: trimmed, 1 to 2,000 characters, no control characters but line breaks. */
function clean(s: unknown, field: string): string {
  const text = typeof s === 'string' ? s.replace(/\r\n?/g, '\n').trim() : '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (text.length === 0 || text.length > SUPPORT_TEXT_MAX || /[\u0000-\u0009\u000b-\u001f\u007f]/.test(text))
    throw new KantineError('invalid_request', `a ${field} is 1 to ${SUPPORT_TEXT_MAX} characters`, [`/${field}`]);
  return text;
}

const SELECT = `SELECT r.*, a.first_name, a.last_name FROM support_requests r JOIN accounts a ON a.id = r.account_id`;

interface Row {
  id: string;
  account_id: string;
  first_name: string;
  last_name: string;
  site_id: string | null;
  person_name: string;
  message: string;
  state: SupportRequest['state'];
  answer: string | null;
  answered_by: string | null;
  answered_at: Date | null;
  created_at: Date;
}

function of(r: Row): SupportRequest {
  return {
    request_id: r.id,
    account_id: r.account_id,
    first_name: r.first_name,
    last_name: r.last_name,
    site_id: r.site_id,
    person_name: r.person_name,
    message: r.message,
    state: r.state,
    answer: r.answer,
    answered_by: r.answered_by,
    answered_at: r.answered_at ? new Date(r.answered_at).toISOString() : null,
    created_at: new Date(r.created_at).toISOString(),
  };
}
