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
  // 3: the API's scoped tokens (only a SHA-256 of each is kept) and the audit log of every change.
  `
  CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('admin', 'it', 'finance', 'monitoring')),
    token_sha256 bytea NOT NULL CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
  );

  -- Who changed what, when, from where. Never a CPR number: targets are ids.
  CREATE TABLE audit_log (
    seq         bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    token_id    text,
    token_name  text NOT NULL,
    scope       text NOT NULL,
    action      text NOT NULL,
    target      jsonb NOT NULL DEFAULT '{}',
    status      integer,
    request_id  text,
    source      text
  );
  CREATE INDEX audit_log_by_time ON audit_log (at);
  CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
  CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
  `,
  // 4: central verifies what a site reports (docs/replication.md §A lying site). A share's
  // consumption never goes below zero; what central refused of a site is set aside here, for IT;
  // a card's highest SUN counter travels through central; a site learns only the batches whose
  // cards it may meet (the batches it got are kept, each sent once).
  `
  ALTER TABLE shares ADD CONSTRAINT shares_consumed_not_negative CHECK (consumed_ore >= 0);
  CREATE TABLE refused_up (
    site_id    text NOT NULL REFERENCES sites (id),
    seq        bigint NOT NULL,
    code       text NOT NULL,
    change     jsonb NOT NULL,
    refused_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, seq)
  );
  ALTER TABLE cards ADD COLUMN sun_counter integer NOT NULL DEFAULT 0 CHECK (sun_counter BETWEEN 0 AND 16777215);
  CREATE TABLE site_batches (
    site_id  text NOT NULL REFERENCES sites (id),
    batch_id text NOT NULL REFERENCES batches (id),
    PRIMARY KEY (site_id, batch_id)
  );
  `,
  // 5 (issue 16): changes a site could not apply and moved past, as the site reported them, with
  // the change itself (kept from the down log) for IT to look into.
  `
  CREATE TABLE down_set_aside (
    site_id     text NOT NULL REFERENCES sites (id),
    seq         bigint NOT NULL,
    code        text NOT NULL,
    change      jsonb,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, seq)
  );
  `,
  // 6 (issue 17): people act through the API too. The audit log names the person (and the role
  // the route let them in as, in \`scope\`); a guardian reads the lines of their children's
  // accounts, found by the account in the target.
  `
  ALTER TABLE audit_log ADD COLUMN person_id text;
  CREATE INDEX audit_log_by_account ON audit_log ((target ->> 'account'), seq);
  `,
  // 7 (issue 23, metrics): when each site was last heard from (its own table: writing it never
  // waits on the site's cursor row), and since when each change has waited for its site.
  `
  CREATE TABLE site_seen (
    site_id      text PRIMARY KEY,
    last_seen_at timestamptz NOT NULL
  );
  ALTER TABLE down_log ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();
  `,
  // 8 (issue 17): people sign in (keyed by their identity provider and its subject); CPR numbers
  // are kept only as a keyed HMAC (lookup) and an AES-GCM copy. The plaintext columns and the old
  // guardians table stay until central's start-up step (central/src/people/seal.ts), which holds
  // the key, seals what they hold and drops them. Guardianship and relations by CPR number wait on
  // the child's record until the person signs in; staff roles are granted by CPR number.
  `
  ALTER TABLE accounts ADD COLUMN cpr_hmac bytea CHECK (length(cpr_hmac) = 32);
  ALTER TABLE accounts ADD COLUMN cpr_enc bytea;
  CREATE UNIQUE INDEX accounts_cpr_hmac_key ON accounts (cpr_hmac);
  CREATE TABLE cpr_key_check (
    one integer PRIMARY KEY CHECK (one = 1),
    kcv bytea NOT NULL
  );
  CREATE TABLE people (
    id              text PRIMARY KEY,
    issuer          text NOT NULL,
    sub             text NOT NULL,
    uuid            text,
    name            text NOT NULL,
    email           text,
    cpr_hmac        bytea NOT NULL CHECK (length(cpr_hmac) = 32),
    cpr_enc         bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    last_sign_in_at timestamptz NOT NULL,
    UNIQUE (issuer, sub),
    CONSTRAINT people_cpr_hmac_key UNIQUE (cpr_hmac)
  );
  ALTER TABLE account_guardians RENAME TO legacy_account_guardians;
  ALTER TABLE legacy_account_guardians RENAME CONSTRAINT account_guardians_pkey TO legacy_account_guardians_pkey;
  CREATE TABLE account_guardians (
    account_id text NOT NULL REFERENCES accounts (id),
    person_id  text NOT NULL REFERENCES people (id),
    role       text NOT NULL CHECK (role IN ('guardian', 'relation')),
    since      timestamptz NOT NULL,
    PRIMARY KEY (account_id, person_id)
  );
  CREATE INDEX account_guardians_by_person ON account_guardians (person_id);
  CREATE TABLE account_guardian_cprs (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    cpr_hmac   bytea NOT NULL CHECK (length(cpr_hmac) = 32),
    cpr_enc    bytea NOT NULL,
    role       text NOT NULL CHECK (role IN ('guardian', 'relation')),
    since      timestamptz NOT NULL,
    UNIQUE (account_id, cpr_hmac)
  );
  CREATE INDEX account_guardian_cprs_by_cpr ON account_guardian_cprs (cpr_hmac);
  CREATE TABLE person_roles (
    cpr_hmac   bytea NOT NULL CHECK (length(cpr_hmac) = 32),
    cpr_enc    bytea NOT NULL,
    role       text NOT NULL CHECK (role IN ('office', 'admin', 'finance')),
    site_id    text NOT NULL DEFAULT '',
    granted_at timestamptz NOT NULL,
    CHECK ((role = 'office') = (site_id <> '')),
    PRIMARY KEY (cpr_hmac, role, site_id)
  );
  CREATE TABLE relation_invites (
    id           text PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    account_id   text NOT NULL REFERENCES accounts (id),
    email        text NOT NULL,
    invited_by   text NOT NULL REFERENCES people (id),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_by      text REFERENCES people (id)
  );
  CREATE INDEX relation_invites_by_account ON relation_invites (account_id);
  CREATE TABLE attempts (
    bucket text NOT NULL,
    at     timestamptz NOT NULL
  );
  CREATE INDEX attempts_by_bucket ON attempts (bucket, at);
  `,
  // 9 (issue 17): sign-in through OpenID Connect. A login's state (PKCE verifier, nonce, where to
  // go after) waits here between the redirect to the provider and its callback, which any worker
  // may receive; used once. A session is found by the SHA-256 of its cookie (the cookie itself is
  // nowhere at central); its ID token (the logout hint) is encrypted with a key only the cookie
  // gives. person_id has no foreign key: this migration does not depend on the people's (either may come first).
  `
  CREATE TABLE login_states (
    state          text PRIMARY KEY,
    browser_sha256 bytea NOT NULL,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    return_to      text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
  );
  CREATE INDEX login_states_by_expiry ON login_states (expires_at);
  CREATE TABLE sessions (
    id_sha256    bytea PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    person_id    text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    csrf         text NOT NULL,
    id_token     bytea,
    source       text,
    user_agent   text
  );
  CREATE INDEX sessions_by_person ON sessions (person_id) WHERE ended_at IS NULL;
  CREATE INDEX sessions_by_expiry ON sessions (expires_at) WHERE ended_at IS NULL;
  `,
  // 10 (issue 19): mail to guardians (central/src/mail/): written in the transaction that causes it, sent after
  // the commit by the outbox workers. A handled row keeps no recipient and no content.
  `
  CREATE TABLE mail_outbox (
    id              text PRIMARY KEY,
    type            text NOT NULL,
    to_address      text,
    to_domain       text NOT NULL,
    subject         text,
    text_body       text,
    html_body       text,
    dedupe_key      text UNIQUE,
    refused         text,
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed', 'refused', 'not_sent')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_until   timestamptz,
    claim_id        text,
    last_error      text,
    created_at      timestamptz NOT NULL,
    done_at         timestamptz
  );
  CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'queued';
  `,
  // 11 (issue 19) Payouts: a guardian's withdrawal (its entry has the payout's id) waits in the open
  // batch of its kind until finance closes the batch, exports its pain.001 file and marks it sent.
  // At most one open batch per kind. What the file says is fixed when the batch closes (its
  // message id, creation time, execution date and the debtor as config had it), so every export of
  // it is the same file. The
  // bank account is the guardian's own (no CPR number here).
  `
  CREATE TABLE payout_batches (
    id             text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('bank', 'nemkonto')),
    state          text NOT NULL CHECK (state IN ('open', 'closed', 'sent')),
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    closed_by      text,
    execution_date date,
    debtor         jsonb,
    sent_at        timestamptz,
    sent_by        text,
    CHECK ((state = 'open') = (closed_at IS NULL)),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
  );
  CREATE UNIQUE INDEX payout_batches_one_open ON payout_batches (kind) WHERE state = 'open';
  CREATE TABLE payouts (
    id          text PRIMARY KEY REFERENCES entries (id),
    batch_id    text NOT NULL REFERENCES payout_batches (id),
    account_id  text NOT NULL REFERENCES accounts (id),
    person_id   text NOT NULL,
    amount_ore  bigint NOT NULL CHECK (amount_ore > 0),
    holder_name text NOT NULL,
    reg_nr      text CHECK (reg_nr ~ '^[0-9]{4}$'),
    account_nr  text CHECK (account_nr ~ '^[0-9]{10}$'),
    created_at  timestamptz NOT NULL
  );
  CREATE INDEX payouts_by_batch ON payouts (batch_id, created_at, id);
  CREATE INDEX payouts_by_account ON payouts (account_id);
  `,
  // 12 (issue 23): a restore that loses nothing (docs/replication.md §Restore). Every down change
  // carries a random mark; central keeps the mark of what each site acknowledged, so a site that
  // followed a log central lost (restored to an older backup) shows itself. Then central resyncs
  // the site (`link_resyncs`, the mark of the running one in `recover_mark`), books the sales the
  // site sends again (what that took from free is kept in `restore_regrants`) and keeps what the
  // site knew beyond central (`restore_notes`) for the restore report.
  `
  ALTER TABLE sites ADD COLUMN down_acked_mark text;
  ALTER TABLE sites ADD COLUMN recover_mark text;
  CREATE TABLE link_resyncs (
    site_id          text NOT NULL REFERENCES sites (id),
    mark             text NOT NULL,
    at               timestamptz NOT NULL,
    reason           text NOT NULL,
    up_cursor_before bigint NOT NULL,
    site_up_acked    bigint,
    down_seq_before  bigint NOT NULL,
    site_down_cursor bigint,
    reset_seq        bigint NOT NULL,
    done_at          timestamptz,
    notes            integer NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, mark)
  );
  CREATE TABLE restore_regrants (
    site_id    text NOT NULL REFERENCES sites (id),
    mark       text NOT NULL,
    entry_id   text NOT NULL,
    account_id text NOT NULL,
    budget     text NOT NULL,
    amount_ore bigint NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (site_id, entry_id, budget)
  );
  -- A site's change from before its reset that central refused (its money not free: it came with a
  -- deposit central lost) is booked again once the money is there (\`LinkService.rebook\`); until
  -- then the account gets no new shares.
  ALTER TABLE refused_up ADD COLUMN recover_mark text;
  ALTER TABLE refused_up ADD COLUMN account_id text;
  ALTER TABLE refused_up ADD COLUMN rebooked_at timestamptz;
  CREATE INDEX refused_up_to_rebook ON refused_up (account_id) WHERE recover_mark IS NOT NULL AND rebooked_at IS NULL;
  CREATE TABLE restore_notes (
    site_id  text NOT NULL REFERENCES sites (id),
    seq      bigint NOT NULL,
    mark     text NOT NULL,
    note     jsonb NOT NULL,
    noted_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, seq)
  );
  `,
  // 13 (issue 19): payment intents (central/src/payments/). A row is written before the provider is
  // called; it becomes `paid` only from the provider's own answer (a verified webhook's fetch, or
  // the reconciler's), in the transaction that does what the payment is for (a top-up's deposit,
  // whose entry id is the intent's id). One intent per provider payment and one deposit per intent
  // (unique keys). `purpose` says what the money is for; `ref` holds that purpose's own reference
  // (an order, an agreement's settings). The reconciler claims due rows with SKIP LOCKED.
  `
  CREATE TABLE payment_intents (
    id                  text PRIMARY KEY,
    purpose             text NOT NULL CHECK (purpose IN ('topup', 'agreement', 'order')),
    account_id          text NOT NULL REFERENCES accounts (id),
    person_id           text,
    amount_ore          bigint NOT NULL CHECK (amount_ore >= 0),
    ref                 jsonb NOT NULL DEFAULT '{}',
    provider            text NOT NULL,
    provider_payment_id text UNIQUE,
    checkout_url        text,
    state               text NOT NULL CHECK (state IN ('created', 'pending', 'paid', 'failed', 'cancelled', 'expired')),
    failure             text,
    entry_id            text UNIQUE REFERENCES entries (id),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    paid_at             timestamptz,
    expires_at          timestamptz NOT NULL,
    next_check_at       timestamptz NOT NULL,
    checks              integer NOT NULL DEFAULT 0,
    CHECK ((state = 'paid') = (paid_at IS NOT NULL)),
    CHECK (state IN ('created', 'failed') OR provider_payment_id IS NOT NULL)
  );
  CREATE INDEX payment_intents_by_account ON payment_intents (account_id, created_at);
  CREATE INDEX payment_intents_due ON payment_intents (next_check_at) WHERE state IN ('created', 'pending', 'expired');
  CREATE INDEX payment_intents_by_paid ON payment_intents (paid_at) WHERE state = 'paid';
  -- Every verified webhook, once per event id (a duplicate is seen and does nothing more).
  CREATE TABLE payment_webhooks (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    payment_id  text NOT NULL,
    received_at timestamptz NOT NULL,
    deliveries  integer NOT NULL DEFAULT 1,
    PRIMARY KEY (provider, event_id)
  );
  -- The daily reconciliation of the provider's payments against the ledger: one row a day (the
  -- worker that inserts it runs it); the metric reads the latest.
  CREATE TABLE payment_reconciliations (
    day          date PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    checked_at   timestamptz,
    payments     integer,
    differences  integer,
    report       jsonb
  );
  `,
  // 14 (issue 19, autotopup): automatic top-up. An agreement is a guardian's consent to charge a
  // stored card (the provider's agreement id) `amount_ore` when a purchase leaves the account under
  // `threshold_ore`; at most one live (active or suspended) per account. A charge is keyed by the
  // purchase that triggered it (the provider's idempotency key), at most one in flight per account;
  // its deposit's id is derived from the charge. The low-balance alert: a guardian's threshold, at
  // most one mail a day (and only after the balance fell under it).
  `
  CREATE TABLE autotopup_agreements (
    id                    text PRIMARY KEY,
    account_id            text NOT NULL REFERENCES accounts (id),
    person_id             text NOT NULL REFERENCES people (id),
    amount_ore            bigint NOT NULL CHECK (amount_ore > 0),
    threshold_ore         bigint NOT NULL DEFAULT 5000 CHECK (threshold_ore > 0),
    provider              text NOT NULL,
    provider_agreement_id text NOT NULL,
    card_expiry           text NOT NULL CHECK (card_expiry ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    state                 text NOT NULL CHECK (state IN ('active', 'suspended', 'cancelled')),
    failures              integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    expiry_warned_for     text,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    UNIQUE (provider, provider_agreement_id)
  );
  CREATE UNIQUE INDEX autotopup_one_live_agreement ON autotopup_agreements (account_id) WHERE state <> 'cancelled';
  CREATE TABLE autotopup_charges (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id),
    agreement_id     text REFERENCES autotopup_agreements (id),
    site_id          text NOT NULL REFERENCES sites (id),
    request_id       text NOT NULL,
    trigger_entry_id text NOT NULL UNIQUE,
    amount_ore       bigint NOT NULL CHECK (amount_ore >= 0),
    state            text NOT NULL CHECK (state IN ('pending', 'deposited', 'failed')),
    reason           text,
    payment_id       text,
    deposit_entry_id text,
    attempts         integer NOT NULL DEFAULT 0,
    next_try_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    settled_at       timestamptz
  );
  CREATE UNIQUE INDEX autotopup_one_in_flight ON autotopup_charges (account_id) WHERE state = 'pending';
  CREATE INDEX autotopup_charges_due ON autotopup_charges (next_try_at) WHERE state = 'pending';
  CREATE INDEX autotopup_charges_by_account ON autotopup_charges (account_id, created_at);
  CREATE TABLE autotopup_revocations (
    provider              text NOT NULL,
    provider_agreement_id text NOT NULL,
    queued_at             timestamptz NOT NULL,
    next_try_at           timestamptz NOT NULL,
    attempts              integer NOT NULL DEFAULT 0,
    done_at               timestamptz,
    PRIMARY KEY (provider, provider_agreement_id)
  );
  CREATE TABLE low_balance_alerts (
    account_id    text NOT NULL REFERENCES accounts (id),
    person_id     text NOT NULL REFERENCES people (id),
    threshold_ore bigint NOT NULL CHECK (threshold_ore > 0),
    below         boolean NOT NULL DEFAULT false,
    last_sent_on  date,
    PRIMARY KEY (account_id, person_id)
  );
  `,
  // 15 (issue 20, webshop): a place's menu for a date (made at the site's kiosk and sent up the
  // link, or by an administrator here), each item a snapshot of the site's product; guardians'
  // orders on it, paid by canteen card (a purchase entry here, voided when refunded) or bank card;
  // and which relations a guardian let use the webshop.
  `
  CREATE TABLE webshop_menus (
    site_id         text NOT NULL REFERENCES sites (id),
    place_id        text NOT NULL,
    date            date NOT NULL,
    place_name      text NOT NULL,
    place_kind      text NOT NULL CHECK (place_kind IN ('school', 'club')),
    order_deadline  timestamptz NOT NULL,
    cancel_deadline timestamptz NOT NULL,
    items           jsonb NOT NULL,
    source          text NOT NULL CHECK (source IN ('kiosk', 'central')),
    updated_at      timestamptz NOT NULL,
    CHECK (cancel_deadline <= order_deadline),
    PRIMARY KEY (site_id, place_id, date)
  );
  CREATE TABLE webshop_orders (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id),
    site_id          text NOT NULL REFERENCES sites (id),
    place_id         text NOT NULL,
    place_name       text NOT NULL,
    place_kind       text NOT NULL CHECK (place_kind IN ('school', 'club')),
    date             date NOT NULL,
    lines            jsonb NOT NULL,
    total_ore        bigint NOT NULL CHECK (total_ore >= 0),
    payment          text NOT NULL CHECK (payment IN ('canteen_card', 'bank_card')),
    state            text NOT NULL CHECK (state IN ('awaiting_payment', 'paid', 'handed_out', 'cancelled', 'refunded')),
    cancel_reason    text CHECK (cancel_reason IN ('guardian', 'expired', 'not_collected')),
    not_collected    boolean NOT NULL DEFAULT false,
    order_deadline   timestamptz NOT NULL,
    cancel_deadline  timestamptz NOT NULL,
    placed_by        text,
    placed_by_name   text NOT NULL,
    created_at       timestamptz NOT NULL,
    paid_at          timestamptz,
    handed_out_at    timestamptz,
    cancelled_at     timestamptz,
    refunded_at      timestamptz,
    entry_id         text UNIQUE REFERENCES entries (id),
    refund_entry_id  text UNIQUE REFERENCES entries (id),
    payment_intent_id text UNIQUE,
    payment_url      text
  );
  CREATE INDEX webshop_orders_by_account ON webshop_orders (account_id, date);
  CREATE INDEX webshop_orders_live ON webshop_orders (site_id, place_id, date)
    WHERE state IN ('awaiting_payment', 'paid', 'handed_out');
  CREATE INDEX webshop_orders_unpaid ON webshop_orders (order_deadline) WHERE state = 'awaiting_payment';
  CREATE TABLE webshop_relations (
    account_id text NOT NULL REFERENCES accounts (id),
    person_id  text NOT NULL REFERENCES people (id),
    allowed_by text NOT NULL REFERENCES people (id),
    allowed_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, person_id)
  );
  `,
  // 16 (issue 18, portalchild): the municipality's lists that the sites' products use — product
  // categories (a guardian's "Tilladelser" deny some per child) and allergens (a child's
  // allergies) — kept by its administrator (`PUT /api/catalogue/…`); ids as the products carry
  // them. A person's own contact details for receipts and alerts (the sign-in's e-mail stays as
  // the provider gave it; mail goes to `contact_email` when there is one) and the language of
  // their mail and pages.
  `
  CREATE TABLE catalogue_entries (
    list     text NOT NULL CHECK (list IN ('category', 'allergen')),
    id       text NOT NULL,
    name_da  text NOT NULL,
    name_en  text NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (list, id)
  );
  INSERT INTO catalogue_entries (list, id, name_da, name_en, position) VALUES
    ('category', 'mad', 'Mad', 'Food', 1),
    ('category', 'drikke', 'Drikkevarer', 'Drinks', 2),
    ('category', 'slik', 'Slik og snacks', 'Sweets and snacks', 3),
    ('category', 'materialer', 'Materialer', 'Materials', 4),
    ('category', 'aktiviteter', 'Aktiviteter og ture', 'Activities and trips', 5),
    ('allergen', 'gluten', 'Gluten', 'Gluten', 1),
    ('allergen', 'krebsdyr', 'Krebsdyr', 'Crustaceans', 2),
    ('allergen', 'aeg', 'Æg', 'Eggs', 3),
    ('allergen', 'fisk', 'Fisk', 'Fish', 4),
    ('allergen', 'jordnoedder', 'Jordnødder', 'Peanuts', 5),
    ('allergen', 'soja', 'Soja', 'Soy', 6),
    ('allergen', 'maelk', 'Mælk', 'Milk', 7),
    ('allergen', 'noedder', 'Nødder', 'Tree nuts', 8),
    ('allergen', 'selleri', 'Selleri', 'Celery', 9),
    ('allergen', 'sennep', 'Sennep', 'Mustard', 10),
    ('allergen', 'sesam', 'Sesam', 'Sesame', 11),
    ('allergen', 'svovldioxid', 'Svovldioxid og sulfitter', 'Sulphites', 12),
    ('allergen', 'lupin', 'Lupin', 'Lupin', 13),
    ('allergen', 'bloeddyr', 'Bløddyr', 'Molluscs', 14);
  ALTER TABLE people ADD COLUMN contact_email text;
  ALTER TABLE people ADD COLUMN contact_mobile text;
  ALTER TABLE people ADD COLUMN lang text CHECK (lang IN ('da', 'en'));
  `,
  // 17 (portalcards, issue 18): a replacement card ordered in the portal (its 10 kr fee is the
  // order's entry, one open order per child), handed out by the school office (the blank card is
  // then the child's to activate, no one else's), and support requests ("kortet virker ikke")
  // that the school office and the municipality answer.
  `
  ALTER TABLE cards ADD COLUMN handed_to text REFERENCES accounts (id);
  CREATE TABLE card_orders (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    site_id       text NOT NULL REFERENCES sites (id),
    ordered_by    text NOT NULL,
    state         text NOT NULL CHECK (state IN ('ordered', 'handed_out')),
    card_uid      text REFERENCES cards (uid),
    ordered_at    timestamptz NOT NULL,
    handed_out_at timestamptz,
    handed_out_by text
  );
  CREATE UNIQUE INDEX one_open_card_order ON card_orders (account_id) WHERE state = 'ordered';
  CREATE INDEX card_orders_by_site ON card_orders (site_id, ordered_at);
  CREATE TABLE support_requests (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    site_id     text REFERENCES sites (id),
    person_id   text NOT NULL,
    person_name text NOT NULL,
    message     text NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
    state       text NOT NULL CHECK (state IN ('open', 'answered', 'closed')),
    answer      text CHECK (length(answer) <= 2000),
    answered_by text,
    answered_at timestamptz,
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL
  );
  CREATE INDEX support_by_site ON support_requests (site_id, created_at);
  CREATE INDEX support_by_account ON support_requests (account_id, created_at);
  `,
  // 18 (reviewmoney): the stored card an automatic top-up's charge asked first, kept for its retries:
  // a retry after a lost answer asks that card again with its key, even if the agreement has a
  // new card by then (asking the new one would charge twice).
  `
  ALTER TABLE autotopup_charges ADD COLUMN provider_agreement_id text;
  `,
  // 19 (perfcentral, issue 22): a site's message booked as a set (central/src/money/site-batch.ts)
  // takes its locks and reads central's record in one call: the accounts, their kantine cards and
  // the sites locked in that order, then the record read by a later statement, so it is as fresh
  // as the locks (no digest to compare at the write). The named entries are looked up one by one
  // through their unique index whatever the table's statistics say. A sale is voided once: the
  // unique index on voids_entry_id holds only voids (a purchase no longer writes a NULL into it).
  `
  CREATE FUNCTION site_batch_record(p_site text, p_accounts text[], p_entries text[], p_cards text[])
    RETURNS json LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM 1 FROM accounts WHERE id = ANY(p_accounts) ORDER BY id FOR UPDATE;
    PERFORM 1 FROM cards WHERE uid = ANY(p_cards) AND account_id = ANY(p_accounts) AND kind = 'ntag424'
      ORDER BY uid FOR UPDATE;
    PERFORM 1 FROM sites WHERE id = p_site OR id IN (SELECT site_id FROM account_sites WHERE account_id = ANY(p_accounts))
      ORDER BY id FOR UPDATE;
    RETURN json_build_object(
      'accounts', (SELECT json_agg(json_build_array(id, balance_ore)) FROM accounts WHERE id = ANY(p_accounts)),
      'cards', (SELECT json_agg(c) FROM (SELECT uid, account_id, state, kind, batch_id, sun_counter FROM cards
                 WHERE uid = ANY(p_cards) AND account_id = ANY(p_accounts) AND kind = 'ntag424') c),
      'sites', (SELECT json_agg(s) FROM (SELECT id, place_kinds, up_cursor, down_seq, down_acked, down_acked_mark,
                 recover_mark FROM sites
                 WHERE id = p_site OR id IN (SELECT site_id FROM account_sites WHERE account_id = ANY(p_accounts))) s),
      'links', (SELECT json_agg(json_build_array(account_id, site_id)) FROM account_sites
                 WHERE account_id = ANY(p_accounts)),
      'shares', (SELECT json_agg(json_build_array(account_id, budget, granted_ore, consumed_ore, returned_ore))
                 FROM shares WHERE site_id = p_site AND account_id = ANY(p_accounts)),
      'entries', (SELECT json_agg(json_build_array(e.id, e.account_id, e.kind, e.amount_ore, e.origin, e.place_kind,
                    e.budgets, EXISTS (SELECT 1 FROM entries v WHERE v.voids_entry_id = e.id)))
                 FROM unnest(p_entries) AS u(id)
                 CROSS JOIN LATERAL (SELECT * FROM entries x WHERE x.id = u.id OFFSET 0) e));
  END $$;
  CREATE UNIQUE INDEX entries_voids_once ON entries (voids_entry_id) WHERE voids_entry_id IS NOT NULL;
  ALTER TABLE entries DROP CONSTRAINT entries_voids_entry_id_key;
  `,
  // 20 (shopfix): a paid
  // order nobody collected whose refund the provider refused — why, how many times, and when it is
  // tried again; finance sees them (GET /api/webshop/refund-problems) and the rest go on.
  `
  ALTER TABLE webshop_orders ADD COLUMN refund_failure text;
  ALTER TABLE webshop_orders ADD COLUMN refund_failures integer NOT NULL DEFAULT 0;
  ALTER TABLE webshop_orders ADD COLUMN refund_retry_at timestamptz;
  `,
  // 21 (moneyfix): the stored card's last four digits, as the provider tells them (null: it did
  // not), for the guardian's mails (the card-expiry warning names the card); when a charge whose
  // outcome stayed unknown was answered to its site (so the site may ask again); an index for the
  // reconciler's refunds still to make.
  `
  ALTER TABLE autotopup_agreements ADD COLUMN card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$');
  ALTER TABLE autotopup_charges ADD COLUMN site_answered_at timestamptz;
  -- The reconciler's other due list: payments of another amount whose refund is not yet confirmed.
  CREATE INDEX payment_intents_refund_due ON payment_intents (next_check_at)
    WHERE state = 'failed' AND failure = 'amount_mismatch';
  `,
  // 22 (centralbench, issue 22): a site's message booked as a set writes everything in one call of
  // `site_batch_write`, which fails (integrity_constraint_violation) when the rows written differ
  // from the plan's, so that the COMMIT can go out behind it in the same round trip
  // (central/src/money/site-batch.ts): a failed write commits nothing. Its statement is planned
  // once per connection, not for every message.
  `
  CREATE FUNCTION site_batch_write(p_site text, p_now timestamptz, p_cursor bigint, p_entries jsonb,
      p_accounts text[], p_balances bigint[],
      p_share_accounts text[], p_share_budgets text[], p_consumed bigint[], p_returned bigint[],
      p_cards text[], p_sun_counters integer[],
      p_down_sites text[], p_down_seqs bigint[], p_down_changes text[],
      p_sites text[], p_site_down_seqs bigint[],
      p_refused_seqs bigint[], p_refused_codes text[], p_refused_changes text[])
    RETURNS void LANGUAGE plpgsql AS $$
  DECLARE
    n_entries integer;
    n_shares integer;
  BEGIN
    -- Each entry an array of its columns, in the message's order (so its seq follows it).
    WITH
      e AS (
        INSERT INTO entries (id, account_id, kind, amount_ore, balance_after_ore, origin, place_kind, voids_entry_id,
                             reason, lines, tap_id, budgets, created_at)
        SELECT u.x->>0, u.x->>1, u.x->>2, (u.x->>3)::bigint, (u.x->>4)::bigint, p_site, u.x->>5, u.x->>6, u.x->>7,
               NULLIF(u.x->8, 'null'), u.x->>9, NULLIF(u.x->10, 'null'), (u.x->>11)::timestamptz
          FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS u(x, ord)
         ORDER BY u.ord
        RETURNING 1),
      a AS (
        UPDATE accounts x SET balance_ore = u.balance_ore
          FROM unnest(p_accounts, p_balances) AS u(id, balance_ore) WHERE x.id = u.id),
      s AS (
        UPDATE shares x SET consumed_ore = x.consumed_ore + u.consumed_ore,
                            returned_ore = x.returned_ore + u.returned_ore
          FROM unnest(p_share_accounts, p_share_budgets, p_consumed, p_returned)
                 AS u(account_id, budget, consumed_ore, returned_ore)
         WHERE x.account_id = u.account_id AND x.budget = u.budget AND x.site_id = p_site
        RETURNING 1),
      c AS (
        UPDATE cards x SET sun_counter = u.sun_counter
          FROM unnest(p_cards, p_sun_counters) AS u(uid, sun_counter) WHERE x.uid = u.uid),
      d AS (
        INSERT INTO down_log (site_id, seq, change)
        SELECT u.site_id, u.seq, u.change::jsonb
          FROM unnest(p_down_sites, p_down_seqs, p_down_changes) AS u(site_id, seq, change)),
      o AS (
        UPDATE sites x SET down_seq = u.down_seq, down_sent_at = p_now
          FROM unnest(p_sites, p_site_down_seqs) AS u(id, down_seq) WHERE x.id = u.id),
      r AS (
        INSERT INTO refused_up (site_id, seq, code, change, refused_at)
        SELECT p_site, u.seq, u.code, u.change::jsonb, p_now
          FROM unnest(p_refused_seqs, p_refused_codes, p_refused_changes) AS u(seq, code, change)
        ON CONFLICT DO NOTHING),
      p AS (
        UPDATE sites SET up_cursor = p_cursor WHERE id = p_site)
    SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM s) INTO n_entries, n_shares;
    -- Every entry is written and every share the plan moved exists (it read them under the
    -- accounts' locks): anything else and the set is not what was checked.
    IF n_entries <> jsonb_array_length(p_entries) OR n_shares <> cardinality(p_share_accounts) THEN
      RAISE EXCEPTION 'the batch did not match its plan: % of % entries, % of % shares', n_entries,
        jsonb_array_length(p_entries), n_shares, cardinality(p_share_accounts)
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END $$;
  `,
  // 23: a top-up paid after the child's card was blocked is refunded (paid_blocked): the
  // reconciler's index of refunds still to confirm covers it too (the query names the same list).
  `
  DROP INDEX payment_intents_refund_due;
  CREATE INDEX payment_intents_refund_due ON payment_intents (next_check_at)
    WHERE state = 'failed' AND failure IN ('amount_mismatch', 'paid_blocked');
  `,
];

/** Brings the database to this program's schema (or to `upTo` migrations: tests of a conversion). */
export async function migrate(db: Db, upTo = migrations.length): Promise<void> {
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
    const target = Math.min(upTo, migrations.length);
    for (let v = version; v < target; v++) {
      for (const statement of splitSql(migrations[v] as string)) await tx.query(statement);
    }
    await tx.query('UPDATE schema_version SET version = $1', [Math.max(version, target)]);
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
