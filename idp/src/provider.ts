import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KantineError } from '@kantine/protocol';
import Provider, { type Account, type Configuration, type Interaction, type KoaContextish } from 'oidc-provider';
import { isLoopbackHost, urlHost } from './loopback.ts';
import { errorPage, signedOutPage, signInPage, signOutPage } from './pages.ts';
import { DEMO_PEOPLE, type DemoPerson } from './people.ts';

/** A relying party the provider knows (central, a test). */
export interface DevIdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
}

export interface DevIdpOptions {
  /** A loopback address only (127.0.0.0/8, ::1, localhost): anything else is refused. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  clients: DevIdpClient[];
  /** Who can sign in; the six demo people unless given. */
  people?: readonly DemoPerson[];
}

export interface DevIdp {
  /** The issuer URL, e.g. `http://127.0.0.1:4011`; discovery is at `/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The scopes and the claims each one releases, in the style of a MitID broker (Criipto/Idura):
 * `sub` and the MitID `uuid` always, the CPR number (`cprNumberIdentifier`) only with `ssn`.
 */
const CLAIMS = {
  openid: ['sub', 'uuid'],
  profile: ['name'],
  email: ['email'],
  ssn: ['cprNumberIdentifier'],
};

/** A sign-in form's body is one short field; anything longer is not ours (bounds the read). */
const FORM_BYTES_MAX = 1024;

/** The pages' headers: nothing outside loaded, no framing, no caching, no referrer. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * Starts the development identity provider: oidc-provider 8.8.1 with the authorization code flow
 * only, PKCE (S256) required of every client, client_secret_basic or _post at the token endpoint,
 * RP-initiated logout, and its own sign-in page listing the demo people. Plain HTTP, so it listens
 * on loopback only. Keys (signing and cookies) are made at start and live in memory: a restart
 * signs everybody out.
 */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    throw new KantineError(
      'config_invalid',
      `the development identity provider listens on loopback only (127.0.0.1, ::1, localhost), not ${host}: it signs in anyone as anyone`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KantineError('config_invalid', `port ${port} is not a port (0 to 65535)`);
  }
  const people = options.people ?? DEMO_PEOPLE;
  checkClients(options.clients);

  // The provider needs its issuer (with the port) before it exists, the server must listen to
  // know a free port: listen first, hand requests to the provider once it is made.
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handle) handle(req, res);
    else {
      res.writeHead(503).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new KantineError('config_invalid', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const issuer = `http://${urlHost(host)}:${bound}`;

  const provider = new Provider(issuer, configuration(options.clients, people));
  provider.on('server_error', (_ctx: unknown, err: unknown) => {
    // The error only (an exception in the provider), never a request's parameters or claims.
    process.stderr.write(`kantine-dev-idp: internal_error: ${(err as Error).stack ?? String(err)}\n`);
  });
  for (const c of options.clients) {
    try {
      await provider.Client.find(c.client_id);
    } catch (err) {
      server.close();
      throw new KantineError('config_invalid', `client ${c.client_id}: ${(err as Error).message}`);
    }
  }
  const oidc = provider.callback();
  handle = (req, res) => {
    route(provider, people, req, res, oidc).catch((err: unknown) => {
      process.stderr.write(`kantine-dev-idp: internal_error: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) res.writeHead(500, PAGE_HEADERS).end(errorPage('server_error', undefined));
      else res.destroy();
    });
  };

  return {
    issuer,
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function checkClients(clients: readonly DevIdpClient[]): void {
  if (clients.length === 0) throw new KantineError('config_invalid', 'at least one client is needed');
  const ids = new Set<string>();
  for (const c of clients) {
    if (!c.client_id || ids.has(c.client_id)) {
      throw new KantineError('config_invalid', `client_id '${c.client_id}' is empty or given twice`);
    }
    ids.add(c.client_id);
    if (!c.client_secret || c.client_secret.length < 16) {
      throw new KantineError('config_invalid', `client ${c.client_id}: client_secret needs at least 16 characters`);
    }
    if (c.redirect_uris.length === 0) {
      throw new KantineError('config_invalid', `client ${c.client_id}: at least one redirect_uri is needed`);
    }
    for (const uri of [...c.redirect_uris, ...c.post_logout_redirect_uris]) {
      let url: URL;
      try {
        url = new URL(uri);
      } catch {
        throw new KantineError('config_invalid', `client ${c.client_id}: ${uri} is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new KantineError('config_invalid', `client ${c.client_id}: ${uri} is not http(s)`);
      }
    }
  }
}

function configuration(clients: readonly DevIdpClient[], people: readonly DemoPerson[]): Configuration {
  const bySub = new Map(people.map((p) => [p.sub, p]));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  const cookie = { httpOnly: true, sameSite: 'lax', signed: true };
  return {
    clients: clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // client_secret_post works as well: oidc-provider takes either for a secret-based client.
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    })),
    jwks: { keys: [jwk] },
    cookies: {
      // Own names: cookies are per host, not per port, and central runs on 127.0.0.1 too.
      names: {
        session: 'kantine_idp_session',
        interaction: 'kantine_idp_interaction',
        resume: 'kantine_idp_resume',
      },
      keys: [randomBytes(32).toString('base64url')],
      // Lax, not the default None: browsers drop SameSite=None cookies that are not Secure (HTTP).
      long: cookie,
      short: cookie,
    },
    scopes: Object.keys(CLAIMS),
    claims: CLAIMS,
    // All of a scope's claims in the ID token as well, so a relying party need not call userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { methods: ['S256'], required: () => true },
    clientBasedCORS: () => false,
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextish, form: string) => {
          ctx.type = 'html';
          ctx.body = signOutPage(form);
        },
        postLogoutSuccessSource: (ctx: KoaContextish) => {
          ctx.type = 'html';
          ctx.body = signedOutPage();
        },
      },
    },
    interactions: { url: (_ctx: unknown, interaction: Interaction) => `/interaction/${interaction.uid}` },
    renderError: (ctx: KoaContextish, out: { error: string; error_description?: string }) => {
      ctx.type = 'html';
      ctx.body = errorPage(out.error, out.error_description);
    },
    findAccount: (_ctx: unknown, sub: string): Account | undefined => {
      const person = bySub.get(sub);
      if (!person) return undefined;
      return {
        accountId: person.sub,
        // oidc-provider releases only the claims of the granted scopes (CLAIMS above).
        claims: () => ({
          sub: person.sub,
          uuid: person.uuid,
          name: person.name,
          email: person.email,
          cprNumberIdentifier: person.cpr,
        }),
      };
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Grant: 8 * 3600,
      Session: 8 * 3600,
    },
  };
}

/** Our pages at /interaction/…; everything else is oidc-provider's. */
async function route(
  provider: Provider,
  people: readonly DemoPerson[],
  req: IncomingMessage,
  res: ServerResponse,
  oidc: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://idp.invalid').pathname;
  const match = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/login)?$/.exec(path);
  if (!match) {
    oidc(req, res);
    return;
  }
  const login = match[2] !== undefined;
  if ((login && req.method !== 'POST') || (!login && req.method !== 'GET')) {
    res.writeHead(405, PAGE_HEADERS).end(errorPage('invalid_request', 'method not allowed'));
    return;
  }
  let interaction: Interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch {
    // No interaction cookie, an expired one, or another browser's uid.
    res
      .writeHead(400, PAGE_HEADERS)
      .end(errorPage('invalid_request', 'the sign-in has expired or was started in another browser'));
    return;
  }
  if (interaction.uid !== match[1]) {
    res.writeHead(400, PAGE_HEADERS).end(errorPage('invalid_request', 'the sign-in does not belong to this browser'));
    return;
  }

  if (!login) {
    if (interaction.prompt.name === 'consent') {
      // Every client of the development provider is first-party: consent is given for it.
      await grantConsent(provider, interaction, req, res);
      return;
    }
    const clientId = String(interaction.params.client_id ?? '');
    res.writeHead(200, PAGE_HEADERS).end(signInPage(`/interaction/${interaction.uid}/login`, people, clientId));
    return;
  }

  const form = await readForm(req);
  const key = form?.get('person');
  const person = people.find((p) => p.key === key);
  if (!person || interaction.prompt.name !== 'login') {
    res.writeHead(400, PAGE_HEADERS).end(errorPage('invalid_request', 'choose one of the demo people'));
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: person.sub } },
    { mergeWithLastSubmission: false },
  );
}

async function grantConsent(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const accountId = interaction.session?.accountId;
  if (!accountId) throw new Error('consent prompt without a signed-in account');
  const details = interaction.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const grant =
    (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined) ??
    new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: interaction.grantId ? {} : { grantId } },
    { mergeWithLastSubmission: true },
  );
}

/** An application/x-www-form-urlencoded body of at most FORM_BYTES_MAX bytes, or undefined. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_BYTES_MAX) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
