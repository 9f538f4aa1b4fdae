import type { Db } from './db.ts';

/**
 * Central's tables (Postgres). Money is integer øre (bigint). Entries are immutable; an
 * account's `balance_ore` is the sum of its entries, kept in the same transaction as each entry.
 *
 * Escrow (docs/replication.md): `shares` holds, per account, budget and site, what central
 * granted, what the site reported spending from it and what it gave back. What a site may still
 * spend is at most `granted − consumed − returned` (its outstanding share).
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE sites (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    place_kinds     jsonb NOT NULL,
    secret_hash     text,
    up_cursor       bigint NOT NULL DEFAULT 0,
    down_seq        bigint NOT NULL DEFAULT 0,
    down_acked      bigint NOT NULL DEFAULT 0,
    down_sent_at    timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
  );

  CREATE TABLE accounts (
    id                text PRIMARY KEY,
    first_name        text NOT NULL,
    last_name         text NOT NULL DEFAULT '',
    -- The child's CPR number stays here: it is never sent to a site.
    cpr               text UNIQUE,
    place_kinds       jsonb NOT NULL DEFAULT '["school","club"]',
    denied_categories jsonb NOT NULL DEFAULT '[]',
    allergies         jsonb NOT NULL DEFAULT '[]',
    photo             text,
    auto_topup_ore    bigint CHECK (auto_topup_ore IS NULL OR auto_topup_ore > 0),
    balance_ore       bigint NOT NULL DEFAULT 0 CHECK (balance_ore >= 0),
    created_at        timestamptz NOT NULL DEFAULT now()
  );

  -- The sites where the child's card works (its school and its club): they get the account and
  -- shares of its money.
  CREATE TABLE account_sites (
    account_id text NOT NULL REFERENCES accounts (id),
    site_id    text NOT NULL REFERENCES sites (id),
    PRIMARY KEY (account_id, site_id)
  );

  CREATE TABLE spend_limits (
    account_id text NOT NULL REFERENCES accounts (id),
    place_kind text NOT NULL CHECK (place_kind IN ('school', 'club')),
    period     text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    limit_ore  bigint NOT NULL CHECK (limit_ore >= 0),
    PRIMARY KEY (account_id, place_kind, period)
  );

  CREATE TABLE batches (
    id         text PRIMARY KEY,
    sdm_master bytea NOT NULL CHECK (length(sdm_master) = 16),
    created_at timestamptz NOT NULL DEFAULT now()
  );

  CREATE TABLE cards (
    uid        text PRIMARY KEY,
    account_id text REFERENCES accounts (id),
    state      text NOT NULL CHECK (state IN ('stock', 'active', 'blocked', 'replaced')),
    kind       text NOT NULL CHECK (kind IN ('legacy', 'ntag424')),
    batch_id   text REFERENCES batches (id),
    card_number text UNIQUE,
    CHECK ((kind = 'ntag424') = (batch_id IS NOT NULL))
  );
  CREATE INDEX cards_by_account ON cards (account_id);
  -- One active card per account.
  CREATE UNIQUE INDEX one_active_card ON cards (account_id) WHERE state = 'active';

  CREATE TABLE guardians (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    cpr        text UNIQUE,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE account_guardians (
    account_id  text NOT NULL REFERENCES accounts (id),
    guardian_id text NOT NULL REFERENCES guardians (id),
    -- A guardian may do everything; a relation may top up and read the statement.
    role        text NOT NULL CHECK (role IN ('guardian', 'relation')),
    PRIMARY KEY (account_id, guardian_id)
  );

  CREATE TABLE entries (
    seq            bigserial PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    account_id     text NOT NULL REFERENCES accounts (id),
    kind           text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'fee', 'purchase', 'void')),
    amount_ore     bigint NOT NULL,
    balance_after_ore bigint NOT NULL CHECK (balance_after_ore >= 0),
    -- 'central' or the site that made it.
    origin         text NOT NULL,
    place_kind     text CHECK (place_kind IN ('school', 'club')),
    voids_entry_id text UNIQUE REFERENCES entries (id),
    reason         text,
    lines          jsonb,
    tap_id         text,
    budgets        jsonb,
    created_at     timestamptz NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'deposit' AND amount_ore > 0) OR (kind IN ('withdrawal', 'fee', 'purchase') AND amount_ore < 0)
        OR (kind = 'void' AND amount_ore > 0 AND voids_entry_id IS NOT NULL))
  );
  CREATE INDEX entries_by_account ON entries (account_id, seq);

  CREATE FUNCTION entries_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'ledger entries are immutable'; END $$;
  CREATE TRIGGER entries_immutable BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_immutable();

  CREATE TABLE shares (
    account_id   text NOT NULL REFERENCES accounts (id),
    budget       text NOT NULL,
    site_id      text NOT NULL REFERENCES sites (id),
    granted_ore  bigint NOT NULL DEFAULT 0 CHECK (granted_ore >= 0),
    consumed_ore bigint NOT NULL DEFAULT 0,
    returned_ore bigint NOT NULL DEFAULT 0 CHECK (returned_ore >= 0),
    PRIMARY KEY (account_id, budget, site_id),
    CHECK (consumed_ore + returned_ore <= granted_ore)
  );

  -- Each site's down log: changes waiting for the site's acknowledgement.
  CREATE TABLE down_log (
    site_id text NOT NULL REFERENCES sites (id),
    seq     bigint NOT NULL,
    change  jsonb NOT NULL,
    PRIMARY KEY (site_id, seq)
  );
  `,
  // 2: programmed cards lie in stock at a school (or club) office until a guardian activates one.
  `
  ALTER TABLE cards ADD COLUMN stock_site text REFERENCES sites (id);
  `,
];

export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    // Two workers starting together: the first migrates, the other waits here and finds it done.
    await tx.query('SELECT pg_advisory_xact_lock(20261123)');
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_version (one integer PRIMARY KEY CHECK (one = 1), version integer NOT NULL)',
    );
    await tx.query('INSERT INTO schema_version (one, version) VALUES (1, 0) ON CONFLICT DO NOTHING');
    const [row] = await tx.query<{ version: number }>('SELECT version FROM schema_version');
    const version = row?.version ?? 0;
    if (version > migrations.length) {
      throw new Error(
        `central's database is at schema ${version}, newer than this program knows (${migrations.length})`,
      );
    }
    for (let v = version; v < migrations.length; v++) {
      for (const statement of splitSql(migrations[v] as string)) await tx.query(statement);
    }
    await tx.query('UPDATE schema_version SET version = $1', [migrations.length]);
  });
}

/** Splits a migration into statements (dollar-quoted bodies kept whole). */
function splitSql(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inDollar = false;
  // Comments go first: they may hold a semicolon (the DDL holds no `--` inside a string).
  for (const part of sql.replace(/--[^\n]*/g, '').split(/(\$\$|;)/)) {
    if (part === '$$') inDollar = !inDollar;
    if (part === ';' && !inDollar) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += part;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
