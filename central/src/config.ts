import { externalBrokerFields, listenFields, ServerTls } from '@kantine/mqtt';
import { codes, KantineError, withDefaults } from '@kantine/protocol';
import { loadConfigFile } from '@kantine/protocol/config-file';
import Type, { type Static } from 'typebox';
import { AutotopupConfig } from './autotopup/config.ts';
import { CentralPaymentsConfig } from './payments/config.ts';

/** Central's own broker (aedes), one worker: the default, and the demo's. */
const EmbeddedBroker = Type.Object(
  {
    mode: Type.Literal('embedded'),
    // Not 8883: a gateway on the same machine (the demo) has that one for its readers.
    ...listenFields(8884),
    /**
     * `auto` (the default): central makes its own CA and the broker's certificate on first start
     * (in `tls_dir`); IT gives each site the CA (`central-ca.pem`) for its `central.ca_file`.
     * `off`: plain MQTT, refused unless `host` is loopback. Or the key and certificate files.
     */
    tls: Type.Union([Type.Literal('auto'), Type.Literal('off'), ServerTls], { default: 'auto' }),
    /** Where `auto` keeps central's CA and certificate (relative: to the working directory). */
    tls_dir: Type.String({ default: 'data/central-tls' }),
    /** Extra names or addresses sites use for central (its host name, localhost and IPs are in). */
    server_names: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { default: [], maxItems: 20 }),
  },
  { additionalProperties: false },
);

/** A standard broker (Mosquitto, EMQX) that several workers share through `$share/…`. */
const ExternalBroker = Type.Object(
  {
    ...externalBrokerFields,
    /** The shared-subscription group of central's workers; one group per central system. */
    share_group: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'kantine-central' }),
  },
  { additionalProperties: false },
);

/**
 * Sign-in of people (guardians, relations, staff) through an OpenID Connect provider: a MitID
 * broker in production (docs/operations/identity.md), the dev provider in the demo and tests.
 * Without this section no person can sign in (`identity_not_configured`); tokens still work.
 */
export const IdentityConfig = Type.Object(
  {
    /** The provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`). `http://` only on loopback. */
    issuer: Type.String({ pattern: '^https?://', maxLength: 500 }),
    client_id: Type.String({ minLength: 1, maxLength: 200 }),
    /** The client secret itself, or better a file that holds it (`client_secret_file`). */
    client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    client_secret_file: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * Central's address as browsers reach it (no trailing slash), e.g. `https://kantine.kommune.dk`.
     * The provider sends people back to `<public_url>/login/callback` and, after logout, to `<public_url>/`.
     */
    public_url: Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*[^/?#])?$', maxLength: 500 }),
    scopes: Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,100}$' }), {
      default: ['openid', 'profile', 'email', 'ssn'],
      minItems: 1,
      maxItems: 20,
    }),
    /** Which claim holds what: brokers name the CPR claim differently (Criipto/Idura `cprNumberIdentifier`, Signicat `nin`). */
    claims: Type.Object(
      {
        sub: Type.String({ default: 'sub', minLength: 1, maxLength: 100 }),
        uuid: Type.String({ default: 'uuid', minLength: 1, maxLength: 100 }),
        name: Type.String({ default: 'name', minLength: 1, maxLength: 100 }),
        email: Type.String({ default: 'email', minLength: 1, maxLength: 100 }),
        cpr: Type.String({ default: 'cprNumberIdentifier', minLength: 1, maxLength: 100 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** A session ends after this long without a request (guardians.md: 15 minutes). */
    idle_minutes: Type.Integer({ minimum: 1, maximum: 240, default: 15 }),
    /** …and this long after sign-in, however busy. */
    max_hours: Type.Integer({ minimum: 1, maximum: 24, default: 12 }),
    /**
     * Sign-ins one source address may start in 10 minutes (each keeps a row that long). Behind a
     * reverse proxy, set `http.trust_proxy` so the address is the browser's, not the proxy's.
     */
    login_starts_per_source: Type.Integer({ minimum: 1, maximum: 100_000, default: 120 }),
    /** The CPR key (32 bytes) when `KANTINE_CPR_KEY` is not set; made on first start (relative: to the working directory). */
    cpr_key_file: Type.String({ default: 'data/central-keys/cpr.key' }),
  },
  { additionalProperties: false },
);
export type IdentityConfig = Static<typeof IdentityConfig>;

/**
 * E-mail to guardians (receipts, alerts, invitations) through an SMTP relay (docs/operations/mail.md).
 * Without this section no mail leaves: each is logged as "not sent: no mail configured".
 */
export const MailConfig = Type.Object(
  {
    /**
     * `smtps://host:465` (TLS from the start) or `smtp://host:587` with `starttls: "required"`;
     * plain `smtp://` without required STARTTLS only to this machine (a dev catcher). A user name
     * may be in the URL; the password better in `password_file`.
     */
    smtp_url: Type.String({ pattern: '^smtps?://[^\\s]+$', maxLength: 500 }),
    starttls: Type.Union([Type.Literal('required'), Type.Literal('if_offered')], { default: 'if_offered' }),
    /** A file holding the SMTP password (relative: to the working directory). */
    password_file: Type.Optional(Type.String({ minLength: 1 })),
    /** A CA (PEM) the relay's certificate is checked against, when it is not a public one. */
    ca_file: Type.Optional(Type.String({ minLength: 1 })),
    /** The sender, e.g. `Kantinen <kantine@kommune.dk>`. */
    from: Type.String({ pattern: '^[^\\r\\n]*@[^\\r\\n]*$', minLength: 3, maxLength: 300 }),
    reply_to: Type.Optional(Type.String({ pattern: '^[^\\r\\n]*@[^\\r\\n]*$', minLength: 3, maxLength: 300 })),
    /** A mail the relay keeps refusing for a passing reason is given up after this many tries. */
    max_attempts: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  },
  { additionalProperties: false },
);
export type MailConfig = Static<typeof MailConfig>;

/**
 * Payouts to guardians (docs/operations/payouts.md): the municipality's own bank account the
 * money leaves from (the debtor of the pain.001 file finance sends to the bank). Without this
 * section no withdrawal can be asked for (`payouts_not_configured`).
 */
export const PayoutsConfig = Type.Object(
  {
    debtor: Type.Object(
      {
        /** The municipality's name as the bank knows the account holder. */
        name: Type.String({ minLength: 1, maxLength: 70 }),
        reg_nr: Type.String({ pattern: '^[0-9]{4}$' }),
        account_nr: Type.String({ pattern: '^[0-9]{1,10}$' }),
        /** The bank's BIC (without it the bank is named by its reg. no., clearing system DKNCC). */
        bic: Type.Optional(Type.String({ pattern: '^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$' })),
      },
      { additionalProperties: false },
    ),
    /** The customer or agreement number the bank gave for file transfers (the file's initiating party). */
    initiator_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9/+-]{1,35}$' })),
    /**
     * Payouts to the guardian's own NemKonto (by the CPR number MitID confirmed at their first
     * sign-in): only where the municipality's bank has agreed to NemKonto payments in pain.001
     * (docs/operations/payouts.md, NemKonto).
     */
    nemkonto: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type PayoutsConfig = Static<typeof PayoutsConfig>;

export const CentralConfig = Type.Object(
  {
    database: Type.Object(
      {
        /** A Postgres connection (postgres://…); without one, PGlite keeps the data in `dir`. */
        url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
        dir: Type.String({
          default: 'data/central',
          description: 'PGlite data folder when no url is given (`memory://` keeps nothing)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    mqtt: Type.Union([EmbeddedBroker, ExternalBroker], { default: { mode: 'embedded' } }),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8090 }),
        /**
         * The reverse proxies in front of central (addresses or CIDRs), whose X-Forwarded-For is
         * believed: the caller's address in the audit log and the per-source limits (adding a child's
         * account) is then the browser's, not the proxy's. Empty (the default): the header is ignored.
         */
        trust_proxy: Type.Array(Type.String({ pattern: '^[0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?$' }), {
          default: [],
          maxItems: 20,
        }),
        /**
         * No longer used: a shared plain-text token. Kept in the schema only to refuse it with
         * `api_token_in_config` (scoped tokens: `kantine-central token add`).
         */
        token: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false, default: {} },
    ),
    identity: Type.Optional(IdentityConfig),
    mail: Type.Optional(MailConfig),
    payouts: Type.Optional(PayoutsConfig),
    /** Card payments through a provider (docs/operations/payments.md); without it no top-up by card. */
    payments: Type.Optional(CentralPaymentsConfig),
    // — webshop —
    /** The webshop (issue 20): what happens to a paid order nobody collected — refunded, or kept. */
    webshop: Type.Object(
      { uncollected: Type.Union([Type.Literal('refund'), Type.Literal('keep')], { default: 'keep' }) },
      { additionalProperties: false, default: {} },
    ),
    // — autotopup —
    autotopup: AutotopupConfig,
  },
  { additionalProperties: false },
);
export type CentralConfig = Static<typeof CentralConfig>;

export function parseCentralConfig(value: unknown): CentralConfig {
  return paymentsChecked(mailChecked(identityChecked(noSharedToken(withDefaults(CentralConfig, value)))));
}

export function loadCentralConfig(path: string): CentralConfig {
  return paymentsChecked(
    mailChecked(identityChecked(noSharedToken(loadConfigFile(CentralConfig, path, 'central config')))),
  );
}

function isLoopbackHost(host: string): boolean {
  return host === '127.0.0.1' || host === '[::1]' || host === 'localhost';
}

/**
 * What the schema cannot say: exactly one client secret source, and plain HTTP only on this
 * machine — an `http://` issuer or public address beyond loopback would carry codes, tokens and
 * session cookies in the clear.
 */
function identityChecked(config: CentralConfig): CentralConfig {
  const id = config.identity;
  if (!id) return config;
  if ((id.client_secret === undefined) === (id.client_secret_file === undefined)) {
    throw new KantineError('config_invalid', 'identity: give client_secret or client_secret_file (one of them)', [
      '/identity/client_secret one of client_secret and client_secret_file is required',
    ]);
  }
  for (const field of ['issuer', 'public_url'] as const) {
    const url = new URL(id[field]);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      throw new KantineError('identity_insecure', `identity.${field} ${id[field]} is plain HTTP beyond this machine`, [
        `/identity/${field} must be https:// (http:// only on 127.0.0.1, [::1] or localhost)`,
      ]);
    }
  }
  if (!id.scopes.includes('openid')) {
    throw new KantineError('config_invalid', 'identity.scopes must include openid', [
      '/identity/scopes must include openid',
    ]);
  }
  return config;
}

/**
 * Mail carries names, amounts and invitation links: beyond this machine it travels encrypted
 * (`smtps://`, or `smtp://` with `starttls: "required"`).
 */
function mailChecked(config: CentralConfig): CentralConfig {
  const mail = config.mail;
  if (!mail) return config;
  let url: URL;
  try {
    url = new URL(mail.smtp_url);
  } catch {
    throw new KantineError('config_invalid', 'mail.smtp_url is not a URL', ['/mail/smtp_url is not a URL']);
  }
  const host = url.hostname;
  if (url.protocol === 'smtp:' && mail.starttls !== 'required' && !isLoopbackHost(host)) {
    throw new KantineError(
      'mail_insecure',
      `mail.smtp_url ${url.protocol}//${host} is plain SMTP beyond this machine`,
      ['/mail/smtp_url use smtps://, or smtp:// with mail.starttls "required" (plain smtp:// only on loopback)'],
    );
  }
  return config;
}

/**
 * One shared plain-text token let anyone who held it do everything, unseen in any log. Central
 * now has scoped, hashed, revocable tokens; a config that still has one stops the start, so the
 * operator replaces it rather than believing it still guards the API.
 */
function noSharedToken(config: CentralConfig): CentralConfig {
  if (config.http.token !== undefined) {
    throw new KantineError('api_token_in_config', codes.api_token_in_config.action_en, [
      '/http/token is no longer read: remove it and make scoped tokens with `kantine-central token add --scope <scope> --name <name>`',
    ]);
  }
  return config;
}

/** Payments need central's public address (the provider sends browsers back there) and sane limits. */
function paymentsChecked(config: CentralConfig): CentralConfig {
  const p = config.payments;
  if (!p) return config;
  if (!(p.public_url ?? config.identity?.public_url)) {
    throw new KantineError('config_invalid', 'payments needs payments.public_url or identity.public_url', [
      "/payments/public_url central's address as browsers reach it (the provider sends them back there)",
    ]);
  }
  if (p.topup.min_kr > p.topup.max_kr || p.topup.max_kr > p.topup.max_balance_kr) {
    throw new KantineError('config_invalid', 'payments.topup: min_kr ≤ max_kr ≤ max_balance_kr', [
      '/payments/topup min_kr ≤ max_kr ≤ max_balance_kr',
    ]);
  }
  return config;
}
