import { randomBytes } from 'node:crypto';
import type { PspAdapter } from '@kantine/payments';
import { AccountService } from './accounts/accounts.ts';
import { AuditService } from './audit/audit.ts';
import type { PersonAuth } from './auth/actor.ts';
import { TokenService } from './auth/tokens.ts';
import { AutoTopupService } from './autotopup/autotopup.ts';
import type { AutotopupConfig } from './autotopup/config.ts';
import { BatchService } from './cards/batches.ts';
import { CardService } from './cards/cards.ts';
import { ReplacementService } from './cards/replacement.ts';
import { StockService } from './cards/stock.ts';
import { CatalogueService } from './catalogue/catalogue.ts';
import type { IdentityConfig, PayoutsConfig } from './config.ts';
import type { Db } from './db/db.ts';
import { migrate } from './db/schema.ts';
import { type Clock, Store } from './db/tx.ts';
import { EscrowService } from './escrow/escrow.ts';
import { IdentityService } from './identity/identity.ts';
import { LoginStates } from './identity/login-states.ts';
import { RelyingParty } from './identity/relying-party.ts';
import { DEFAULT_SESSION_LIMITS, SessionService } from './identity/sessions.ts';
import { ImportService } from './import/import.ts';
import { type Publish, sendChanges } from './link/down-log.ts';
import { LinkService } from './link/link.ts';
import { queueInviteMail } from './mail/invite.ts';
import { MoneyService } from './money/money.ts';
import type { CentralPaymentsConfig } from './payments/config.ts';
import { PaymentIntents } from './payments/intents.ts';
import { ReconciliationService } from './payments/reconciliation.ts';
import { TopupService } from './payments/topup.ts';
import { PayoutService } from './payouts/payouts.ts';
import { ContactService } from './people/contact.ts';
import { CprCrypto } from './people/cpr.ts';
import { PeopleService } from './people/people.ts';
import { sealCprAtStart } from './people/seal.ts';
import { SiteService } from './sites/sites.ts';
import { SupportService } from './support/support.ts';
import { type UncollectedPolicy, WebshopService } from './webshop/orders.ts';

/** Sign-in of people: the config's `identity` section, with the client secret read (from its file). */
export interface CentralIdentity {
  config: IdentityConfig;
  client_secret: string;
}

/**
 * Central: the master of accounts, cards, policies and money, and the other end of every site's
 * link. One service per concept, all on one database handle (`Store`); this only wires them. All
 * state is in the database; any number of these may run against one Postgres (each transaction
 * locks the rows it changes), sharing the sites' messages.
 */
export class Central {
  readonly sites: SiteService;
  readonly accounts: AccountService;
  /** People who sign in, their CPR numbers (sealed), staff roles, guardianships and relations. */
  readonly people: PeopleService;
  readonly batches: BatchService;
  readonly stock: StockService;
  readonly cards: CardService;
  readonly imports: ImportService;
  readonly money: MoneyService;
  /** Withdrawals to guardians, in batches finance sends to the bank. */
  readonly payouts: PayoutService;
  readonly escrow: EscrowService;
  /**
   * Payments through the provider (intents of every purpose; other concepts add theirs with
   * `payments.onPaid`). Undefined without the config's `payments` section.
   */
  readonly payments: PaymentIntents | undefined;
  /** One-off top-ups by card (undefined without `payments`). */
  readonly topup: TopupService | undefined;
  /** The provider's payments against the ledger, a day at a time (undefined without `payments`). */
  readonly reconciliation: ReconciliationService | undefined;
  /** The webshop: menus, guardians' orders, their payment and their way to the site. */
  readonly webshop: WebshopService;
  // — portalcards —
  /** Replacement cards: ordered (with their fee), handed out at the office, activated by number. */
  readonly replacements: ReplacementService;
  /** Support requests about a child's card, answered by the school office and the municipality. */
  readonly support: SupportService;
  readonly link: LinkService;
  /** Automatic top-up: agreements, the sites' requests, off-session charges; low-balance alerts. */
  readonly autotopup: AutoTopupService;
  readonly tokens: TokenService;
  readonly audit: AuditService;
  /** People's sessions (cookies); present even without `identity` (then none can start). */
  readonly sessions: SessionService;
  // — portalchild (issue 18) —
  /** The municipality's product categories and allergens (the ids the sites' products carry). */
  readonly catalogue: CatalogueService;
  /** A person's own e-mail and mobile for receipts and alerts, and their language. */
  readonly contact: ContactService;
  /** Sign-in through the OpenID Connect provider; undefined without an `identity` config. */
  readonly identity: IdentityService | undefined;
  /**
   * How the API finds people (sessions, roles). Without it no person can sign in and every
   * session cookie is refused; service tokens work either way.
   */
  personAuth: PersonAuth | undefined;

  constructor(
    readonly db: Db,
    clock: Clock,
    publish: Publish,
    opts: {
      /**
       * The CPR key's crypto (central/src/people/cpr.ts). Without one (tests and tools that never
       * keep a CPR number) a random key lives in this process only, and the start-up step that
       * checks the key and seals old plaintext is skipped: nothing sealed with it can be read later.
       */
      cpr?: CprCrypto;
      /** Sign-in through an OpenID Connect provider (without it no person can sign in). */
      identity?: CentralIdentity;
      /** The config's `payouts` section (without it no payout can be asked for). */
      payouts?: PayoutsConfig;
      /** The config's `payments` section, the adapter made from it and central's public address. */
      payments?: { config: CentralPaymentsConfig; adapter: PspAdapter; public_url: string };
      /** The config's `webshop` section (what happens to a paid order nobody collected). */
      webshop?: { uncollected: UncollectedPolicy };
      /** The config's `autotopup` section. */
      autotopup?: AutotopupConfig;
    } = {},
  ) {
    this.cprEphemeral = opts.cpr === undefined;
    const cpr = opts.cpr ?? new CprCrypto(randomBytes(32));
    const store = new Store(db, clock, (out) => {
      for (const [site, changes] of out) sendChanges(publish, site, changes, (s, c) => this.link.onWithheld?.(s, c));
    });
    this.escrow = new EscrowService(store);
    this.sites = new SiteService(store);
    this.accounts = new AccountService(store, this.escrow, cpr);
    this.batches = new BatchService(store);
    this.stock = new StockService(store);
    this.cards = new CardService(store);
    this.money = new MoneyService(store, this.escrow);
    this.payouts = new PayoutService(store, this.money, opts.payouts, cpr);
    this.payments = opts.payments
      ? new PaymentIntents(store, opts.payments.adapter, opts.payments.config, opts.payments.public_url)
      : undefined;
    this.topup = this.payments ? new TopupService(this.payments, this.money) : undefined;
    this.reconciliation = this.payments ? new ReconciliationService(store, this.payments) : undefined;
    // — portalcards —
    this.replacements = new ReplacementService(store, this.money, this.cards);
    this.support = new SupportService(store);
    this.imports = new ImportService(store, {
      accounts: this.accounts,
      cards: this.cards,
      money: this.money,
      escrow: this.escrow,
      cpr,
    });
    this.link = new LinkService(store, publish, this.escrow);
    this.webshop = new WebshopService(store, this.escrow, opts.webshop?.uncollected, this.payments);
    this.autotopup = new AutoTopupService(store, this.money, opts.autotopup, this.payments);
    this.link.autotopup = this.autotopup;
    this.tokens = new TokenService(store);
    this.audit = new AuditService(store);
    this.payouts.audit = this.audit; // nemkonto: who opened a NemKonto file (CPR numbers) is audited
    this.people = new PeopleService(store, cpr, this.audit);
    this.catalogue = new CatalogueService(store);
    this.contact = new ContactService(store);
    // The invitation's link points into the portal, so it needs the portal's address.
    const portal = opts.identity?.config.public_url;
    if (portal) this.people.onInvite = (t, invite) => queueInviteMail(t, invite, portal);
    this.peopleAuth = {
      person: (id) => this.people.person(id),
      onAccount: (p, a) => this.people.onAccount(p, a),
      accountSites: (a) => this.accounts.sitesOf(a),
    };
    const { identity } = opts;
    this.sessions = new SessionService(
      store,
      identity
        ? { idle_minutes: identity.config.idle_minutes, max_hours: identity.config.max_hours }
        : DEFAULT_SESSION_LIMITS,
    );
    this.identity = identity
      ? new IdentityService(
          identity.config,
          new RelyingParty(identity.config, identity.client_secret),
          new LoginStates(store),
          this.sessions,
          this.people,
        )
      : undefined;
    this.personAuth = { session: (c) => this.sessions.verify(c), ...this.peopleAuth };
  }

  readonly peopleAuth: Pick<PersonAuth, 'person' | 'onAccount' | 'accountSites'>;

  private readonly cprEphemeral: boolean;

  /**
   * Brings the database to this program's schema, then (with a CPR key given) checks the key
   * against the database and seals any plaintext CPR number an older central left.
   */
  async migrate(): Promise<void> {
    await migrate(this.db);
    if (!this.cprEphemeral) await sealCprAtStart(this.db, this.people.cpr);
  }
}
