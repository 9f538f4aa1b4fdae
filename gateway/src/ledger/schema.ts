/**
 * The ledger's tables, one migration per schema version (`PRAGMA user_version`).
 *
 * Money is integer øre. Entries are immutable (triggers refuse UPDATE and DELETE); a correction
 * is a new entry. `accounts.balance_ore` is the sum of the account's entries, kept in the same
 * transaction as each entry (as TigerBeetle keeps posted totals on its accounts) so a tap reads
 * one row; `Ledger.verify()` re-derives it from the entries.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE places (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('school', 'club'))
  ) STRICT;

  CREATE TABLE tills (
    id       TEXT PRIMARY KEY,
    place_id TEXT NOT NULL REFERENCES places (id),
    name     TEXT NOT NULL
  ) STRICT;

  CREATE TABLE readers (
    id          TEXT PRIMARY KEY,
    till_id     TEXT REFERENCES tills (id),
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
  ) STRICT;

  CREATE TABLE products (
    id        TEXT PRIMARY KEY,
    place_id  TEXT REFERENCES places (id),
    name      TEXT NOT NULL,
    category  TEXT NOT NULL DEFAULT 'mad',
    price_ore INTEGER NOT NULL CHECK (price_ore >= 0),
    active    INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
  ) STRICT;

  CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL DEFAULT '',
    balance_ore INTEGER NOT NULL DEFAULT 0 CHECK (balance_ore >= 0),
    created_at  TEXT NOT NULL
  ) STRICT;

  CREATE TABLE cards (
    uid        TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id),
    state      TEXT NOT NULL CHECK (state IN ('stock', 'active', 'blocked', 'replaced')),
    kind       TEXT NOT NULL DEFAULT 'legacy' CHECK (kind IN ('legacy')),
    label      TEXT
  ) STRICT;
  CREATE INDEX cards_by_account ON cards (account_id);

  CREATE TABLE entries (
    -- No AUTOINCREMENT: entries are never deleted, so rowids are never reused anyway, and
    -- AUTOINCREMENT costs a write to sqlite_sequence on every sale.
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    kind              TEXT NOT NULL CHECK (kind IN ('deposit', 'purchase')),
    amount_ore        INTEGER NOT NULL,
    balance_after_ore INTEGER NOT NULL CHECK (balance_after_ore >= 0),
    tap_id            TEXT UNIQUE,
    till_id           TEXT REFERENCES tills (id),
    created_at        TEXT NOT NULL,
    CHECK ((kind = 'deposit' AND amount_ore > 0) OR (kind = 'purchase' AND amount_ore < 0))
  ) STRICT;
  CREATE INDEX entries_by_account ON entries (account_id, seq);

  CREATE TABLE entry_lines (
    entry_id       TEXT NOT NULL REFERENCES entries (id),
    line_no        INTEGER NOT NULL,
    product_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_ore INTEGER NOT NULL CHECK (unit_price_ore >= 0),
    PRIMARY KEY (entry_id, line_no)
  ) STRICT, WITHOUT ROWID;

  CREATE TRIGGER entries_are_immutable_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entries_are_immutable_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entry_lines_are_immutable_u BEFORE UPDATE ON entry_lines
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entry_lines_are_immutable_d BEFORE DELETE ON entry_lines
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;

  -- Every decided tap, by the reader's tap id: a repeat gets the stored decision.
  CREATE TABLE taps (
    tap_id     TEXT PRIMARY KEY,
    reader_id  TEXT NOT NULL,
    till_id    TEXT,
    card_uid   TEXT,
    outcome    TEXT NOT NULL CHECK (outcome IN ('approved', 'declined', 'balance')),
    code       TEXT,
    decision   TEXT NOT NULL,
    decided_at TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX taps_by_time ON taps (decided_at);

  -- The basket waiting on a till for the next tap. "standing" baskets stay after a sale
  -- (a self-service reader selling one thing, e.g. fruit at the club).
  CREATE TABLE baskets (
    till_id    TEXT PRIMARY KEY REFERENCES tills (id),
    basket_id  TEXT NOT NULL,
    lines      TEXT NOT NULL,
    total_ore  INTEGER NOT NULL CHECK (total_ore > 0),
    standing   INTEGER NOT NULL DEFAULT 0 CHECK (standing IN (0, 1)),
    created_at TEXT NOT NULL
  ) STRICT;
  `,
  // 2: NTAG 424 DNA cards. A batch's SDM master key lets the gateway derive each card's SUN keys
  // (it never holds the key that reprograms a card); a card keeps the last SUN counter accepted,
  // so a replayed message is refused. SQLite cannot widen a CHECK in place: rebuild the table.
  `
  CREATE TABLE card_batches (
    id         TEXT PRIMARY KEY,
    sdm_master BLOB NOT NULL CHECK (length(sdm_master) = 16),
    created_at TEXT NOT NULL
  ) STRICT;

  CREATE TABLE cards_v2 (
    uid         TEXT PRIMARY KEY,
    account_id  TEXT REFERENCES accounts (id),
    state       TEXT NOT NULL CHECK (state IN ('stock', 'active', 'blocked', 'replaced')),
    kind        TEXT NOT NULL DEFAULT 'legacy' CHECK (kind IN ('legacy', 'ntag424')),
    batch_id    TEXT REFERENCES card_batches (id),
    sun_counter INTEGER NOT NULL DEFAULT 0 CHECK (sun_counter BETWEEN 0 AND 16777215),
    label       TEXT,
    CHECK ((kind = 'ntag424') = (batch_id IS NOT NULL))
  ) STRICT;
  INSERT INTO cards_v2 (uid, account_id, state, kind, label) SELECT uid, account_id, state, kind, label FROM cards;
  DROP TABLE cards;
  ALTER TABLE cards_v2 RENAME TO cards;
  CREATE INDEX cards_by_account ON cards (account_id);
  `,
  // 3: the till's rules (issue 4). Products carry allergens; accounts carry the guardians'
  // choices (places, permitted categories, allergies, limits, an automatic top-up agreement) and a
  // photo; a sale remembers the kind of place it was made at (spend limits are per kind), and a
  // void is a compensating entry pointing at the sale it cancels. Staff log in to tills with a
  // PIN; top-up requests wait for central; pre-orders wait to be handed out.
  // Entries get a wider CHECK, so the table is rebuilt (foreign keys are off while migrating).
  `
  ALTER TABLE products ADD COLUMN allergens TEXT NOT NULL DEFAULT '[]';
  -- Staff confirmed this basket for this account although it holds one of its allergens.
  ALTER TABLE baskets ADD COLUMN allergens_confirmed_for TEXT;

  ALTER TABLE accounts ADD COLUMN place_kinds TEXT NOT NULL DEFAULT '["school","club"]';
  ALTER TABLE accounts ADD COLUMN denied_categories TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE accounts ADD COLUMN allergies TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE accounts ADD COLUMN photo TEXT;
  ALTER TABLE accounts ADD COLUMN auto_topup_ore INTEGER CHECK (auto_topup_ore IS NULL OR auto_topup_ore > 0);

  CREATE TABLE spend_limits (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    place_kind TEXT NOT NULL CHECK (place_kind IN ('school', 'club')),
    period     TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
    limit_ore  INTEGER NOT NULL CHECK (limit_ore >= 0),
    PRIMARY KEY (account_id, place_kind, period)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE entries_v3 (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    kind              TEXT NOT NULL CHECK (kind IN ('deposit', 'purchase', 'void')),
    amount_ore        INTEGER NOT NULL,
    balance_after_ore INTEGER NOT NULL CHECK (balance_after_ore >= 0),
    tap_id            TEXT UNIQUE,
    till_id           TEXT REFERENCES tills (id),
    place_kind        TEXT CHECK (place_kind IN ('school', 'club')),
    voids_entry_id    TEXT UNIQUE REFERENCES entries_v3 (id),
    reason            TEXT,
    staff_id          TEXT,
    created_at        TEXT NOT NULL,
    CHECK ((kind = 'deposit' AND amount_ore > 0)
        OR (kind = 'purchase' AND amount_ore < 0)
        OR (kind = 'void' AND amount_ore > 0 AND voids_entry_id IS NOT NULL AND reason IS NOT NULL))
  ) STRICT;
  INSERT INTO entries_v3 (seq, id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind, created_at)
    SELECT e.seq, e.id, e.account_id, e.kind, e.amount_ore, e.balance_after_ore, e.tap_id, e.till_id,
           (SELECT p.kind FROM tills t JOIN places p ON p.id = t.place_id WHERE t.id = e.till_id), e.created_at
    FROM entries e;
  DROP TABLE entries;
  ALTER TABLE entries_v3 RENAME TO entries;
  CREATE INDEX entries_by_account ON entries (account_id, seq);
  -- Spend limits sum an account's sales at one kind of place since a moment.
  CREATE INDEX entries_spend ON entries (account_id, place_kind, created_at) WHERE kind = 'purchase';
  CREATE INDEX entries_by_till ON entries (till_id, created_at) WHERE till_id IS NOT NULL;
  CREATE TRIGGER entries_are_immutable_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entries_are_immutable_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;

  CREATE INDEX taps_by_till ON taps (till_id, decided_at);

  CREATE TABLE staff (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    pin_hash   TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
  ) STRICT;

  -- An automatic top-up asked of central after a purchase left the balance under the threshold.
  -- At most one per purchase (entry_id UNIQUE) and one open per account at a time.
  CREATE TABLE topup_requests (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    entry_id         TEXT NOT NULL UNIQUE REFERENCES entries (id),
    amount_ore       INTEGER NOT NULL CHECK (amount_ore > 0),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'deposited', 'failed')),
    reason           TEXT,
    deposit_entry_id TEXT REFERENCES entries (id),
    created_at       TEXT NOT NULL,
    settled_at       TEXT
  ) STRICT;
  CREATE UNIQUE INDEX topup_one_open_per_account ON topup_requests (account_id) WHERE state = 'pending';

  -- Webshop orders already paid, waiting to be handed out at a place.
  CREATE TABLE preorders (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    place_id      TEXT NOT NULL REFERENCES places (id),
    lines         TEXT NOT NULL,
    total_ore     INTEGER NOT NULL CHECK (total_ore >= 0),
    for_date      TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('paid', 'handed_out')),
    handed_out_at TEXT,
    handed_out_by TEXT
  ) STRICT;
  CREATE INDEX preorders_open ON preorders (account_id, place_id) WHERE state = 'paid';
  `,
  // 4: the link to central (issue 5). Entries made elsewhere (central's deposits, withdrawals and
  // fees; other sites' sales) arrive in the down log and are booked here under their own ids, with
  // their origin; the site's own sales carry the escrow budgets they drew on. `shares` holds this
  // site's share of each budget; `outbox` the changes central has not yet acknowledged, written in
  // the same transaction as the entry.
  `
  CREATE TABLE entries_v4 (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    kind              TEXT NOT NULL CHECK (kind IN ('deposit', 'purchase', 'void', 'withdrawal', 'fee')),
    amount_ore        INTEGER NOT NULL,
    balance_after_ore INTEGER NOT NULL CHECK (balance_after_ore >= 0),
    tap_id            TEXT UNIQUE,
    till_id           TEXT REFERENCES tills (id),
    place_kind        TEXT CHECK (place_kind IN ('school', 'club')),
    voids_entry_id    TEXT UNIQUE REFERENCES entries_v4 (id),
    reason            TEXT,
    staff_id          TEXT,
    -- NULL: made at this site; else 'central' or the site that made it.
    origin            TEXT,
    -- This site's sales: the escrow budgets drawn on (JSON array).
    budgets           TEXT,
    created_at        TEXT NOT NULL,
    CHECK ((kind = 'deposit' AND amount_ore > 0)
        OR (kind IN ('purchase', 'withdrawal', 'fee') AND amount_ore < 0)
        OR (kind = 'void' AND amount_ore > 0 AND voids_entry_id IS NOT NULL AND (reason IS NOT NULL OR origin IS NOT NULL)))
  ) STRICT;
  INSERT INTO entries_v4 (seq, id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
                          voids_entry_id, reason, staff_id, created_at)
    SELECT seq, id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
           voids_entry_id, reason, staff_id, created_at FROM entries;
  DROP TABLE entries;
  ALTER TABLE entries_v4 RENAME TO entries;
  CREATE INDEX entries_by_account ON entries (account_id, seq);
  CREATE INDEX entries_spend ON entries (account_id, place_kind, created_at) WHERE kind = 'purchase';
  CREATE INDEX entries_by_till ON entries (till_id, created_at) WHERE till_id IS NOT NULL;
  CREATE TRIGGER entries_are_immutable_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entries_are_immutable_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;

  CREATE TABLE link_state (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    down_cursor INTEGER NOT NULL DEFAULT 0,
    up_seq      INTEGER NOT NULL DEFAULT 0,
    up_acked    INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  INSERT INTO link_state (one) VALUES (1);

  CREATE TABLE outbox (
    seq    INTEGER PRIMARY KEY,
    change TEXT NOT NULL
  ) STRICT;

  CREATE TABLE shares (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    budget       TEXT NOT NULL,
    granted_ore  INTEGER NOT NULL DEFAULT 0,
    used_ore     INTEGER NOT NULL DEFAULT 0,
    returned_ore INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, budget),
    CHECK (used_ore + returned_ore <= granted_ore)
  ) STRICT, WITHOUT ROWID;
  `,
  // 5: integrations (issue 7): MQTT identities that may only watch the site's events.
  `
  CREATE TABLE integrations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
  ) STRICT;
  `,
  // 6: reader enrolment (issue 6): one-time tokens IT makes for a till. The key is kept (it
  // authenticates the reader's request and the gateway's answer) until the token is used or
  // expires; then only the row's record remains.
  `
  CREATE TABLE enrolments (
    id         TEXT PRIMARY KEY,
    key        TEXT,
    till_id    TEXT NOT NULL REFERENCES tills (id),
    reader_id  TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    used_by    TEXT
  ) STRICT;
  `,
  // 7: site settings (issue 6): the reader release the site runs, set with `kantine-gateway
  // release target`.
  `
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  // 8 (issue 16): central's changes this site could not apply and moved past, so one bad change
  // never holds back the ones after it. Kept for IT (and reported to central with the ack).
  `
  CREATE TABLE down_set_aside (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    code         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    set_aside_at TEXT NOT NULL
  ) STRICT;
  `,
  // 9 (issue 23): a restore of central that loses nothing (docs/replication.md §Restore). The mark
  // of the last change of central's applied (sent with every ack, so central can tell its own log
  // from one it lost); while central resyncs this site, its mark and what central sent again.
  `
  ALTER TABLE link_state ADD COLUMN down_mark TEXT;
  ALTER TABLE link_state ADD COLUMN resync_mark TEXT;
  CREATE TABLE resync_seen (
    what TEXT NOT NULL CHECK (what IN ('account', 'card', 'entry')),
    id   TEXT NOT NULL,
    PRIMARY KEY (what, id)
  ) STRICT, WITHOUT ROWID;
  `,
  // 10 (issue 22): one B-tree fewer written per sale. Each index a sale touches is one more page
  // in every commit's WAL append (and in the checkpoint after it), and an index keyed by account
  // lands on a different page for each tap of a group commit. The spend limits read an account's
  // entries since the period began through the account's own index, now ordered by time (the
  // statement reads it the same way), instead of an index of their own.
  `
  DROP INDEX entries_spend;
  DROP INDEX entries_by_account;
  CREATE INDEX entries_by_account ON entries (account_id, created_at);
  `,
  // 11 (shopfix): the menus this site's kiosk sent
  // up the link, the latest per place and date, and central's answer (taken, or refused and why),
  // so the kiosk says what became of it and not only that it left.
  `
  CREATE TABLE kiosk_menus (
    place_id TEXT NOT NULL,
    date     TEXT NOT NULL,
    up_seq   INTEGER NOT NULL,
    items    INTEGER NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('sent', 'accepted', 'refused')),
    code     TEXT,
    message  TEXT,
    sent_at  TEXT NOT NULL,
    PRIMARY KEY (place_id, date)
  ) STRICT;
  `,
  // 12 (issue 22): four B-trees fewer written per sale.
  // - `taps_by_time`: nothing reads the taps by time alone.
  // - `taps_by_till` holds the taps that made no sale (declines, balance checks): an approved tap's
  //   till and time are its entry's, found through `entries_by_till` (the till's screen joins the
  //   two, the end-of-day report counts declines only). In a group commit each till's index entry
  //   lands on a page of its own, so this was one page per sale.
  // - `entries.tap_id` loses its UNIQUE index: nothing looks an entry up by its tap, and one sale
  //   per tap is already the taps table's primary key (a sale's entry and its tap row are written
  //   in one transaction, and a tap id seen before gets its stored decision).
  // - `entries.voids_entry_id`'s UNIQUE index held a NULL for every sale and deposit; a partial
  //   unique index holds only the voids (a sale is still voided at most once).
  // A UNIQUE column constraint cannot be dropped in place: the table is rebuilt.
  `
  DROP INDEX taps_by_time;
  DROP INDEX taps_by_till;
  CREATE INDEX taps_by_till ON taps (till_id, decided_at) WHERE outcome <> 'approved';

  CREATE TABLE entries_v12 (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    kind              TEXT NOT NULL CHECK (kind IN ('deposit', 'purchase', 'void', 'withdrawal', 'fee')),
    amount_ore        INTEGER NOT NULL,
    balance_after_ore INTEGER NOT NULL CHECK (balance_after_ore >= 0),
    tap_id            TEXT,
    till_id           TEXT REFERENCES tills (id),
    place_kind        TEXT CHECK (place_kind IN ('school', 'club')),
    voids_entry_id    TEXT REFERENCES entries_v12 (id),
    reason            TEXT,
    staff_id          TEXT,
    origin            TEXT,
    budgets           TEXT,
    created_at        TEXT NOT NULL,
    CHECK ((kind = 'deposit' AND amount_ore > 0)
        OR (kind IN ('purchase', 'withdrawal', 'fee') AND amount_ore < 0)
        OR (kind = 'void' AND amount_ore > 0 AND voids_entry_id IS NOT NULL AND (reason IS NOT NULL OR origin IS NOT NULL)))
  ) STRICT;
  INSERT INTO entries_v12 (seq, id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
                           voids_entry_id, reason, staff_id, origin, budgets, created_at)
    SELECT seq, id, account_id, kind, amount_ore, balance_after_ore, tap_id, till_id, place_kind,
           voids_entry_id, reason, staff_id, origin, budgets, created_at FROM entries ORDER BY seq;
  DROP TABLE entries;
  ALTER TABLE entries_v12 RENAME TO entries;
  CREATE INDEX entries_by_account ON entries (account_id, created_at);
  CREATE INDEX entries_by_till ON entries (till_id, created_at) WHERE till_id IS NOT NULL;
  CREATE UNIQUE INDEX entries_voided_once ON entries (voids_entry_id) WHERE voids_entry_id IS NOT NULL;
  CREATE TRIGGER entries_are_immutable_u BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  CREATE TRIGGER entries_are_immutable_d BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
  `,
  // 13 (issue 22): a till's sales indexed by time first. Keyed by till, each till's newest index
  // entries sit on a page of their own, so a group commit wrote one more page (and its parents)
  // per till in it: about 1.4 of a sale's 4.4 WAL pages, each page some 12-17 µs of CPU here.
  // Keyed by time, every sale lands on the index's last page. What reads it is bounded by time
  // (the end-of-day report, the till's last sale today) and scans one day's sales of the site;
  // the till screen's latest decisions walk back from the newest sale to the till's own.
  `
  DROP INDEX entries_by_till;
  CREATE INDEX entries_by_till_time ON entries (created_at, till_id) WHERE till_id IS NOT NULL;
  `,
];
