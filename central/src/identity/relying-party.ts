/**
 * The one file that speaks OpenID Connect (openid-client): discovery, the authorization URL,
 * the code exchange with its checks, and the provider's logout URL. Everything else in central
 * sees claims and URLs.
 */
import { KantineError } from '@kantine/protocol';
import * as oidc from 'openid-client';
import type { IdentityConfig } from '../config.ts';

export interface LoginChecks {
  state: string;
  nonce: string;
  code_verifier: string;
}

export interface CallbackResult {
  /** The ID token's claims, with the configured claims the userinfo endpoint gave filled in. */
  claims: Record<string, unknown>;
  issuer: string;
  id_token: string;
}

function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
}

// Only what openid-client says went wrong — never its `cause`, which holds the token's claims
// (the CPR number among them).
function reason(err: unknown): string {
  const e = err as { code?: unknown; error?: unknown; error_description?: unknown; message?: unknown };
  return [e.code, e.error, e.error_description ?? e.message].filter((x) => typeof x === 'string').join(': ');
}

export class RelyingParty {
  private discovered: Promise<oidc.Configuration> | undefined;
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;

  constructor(
    private readonly cfg: IdentityConfig,
    private readonly clientSecret: string,
  ) {
    this.redirectUri = `${cfg.public_url}/login/callback`;
    this.postLogoutRedirectUri = `${cfg.public_url}/`;
  }

  /**
   * The provider's metadata, fetched at the first sign-in and kept (a failed discovery is tried
   * again at the next). Plain HTTP to the provider only on loopback (the dev provider).
   */
  private configuration(): Promise<oidc.Configuration> {
    if (!this.discovered) {
      const issuer = new URL(this.cfg.issuer);
      const insecure = issuer.protocol === 'http:';
      if (insecure && !isLoopback(issuer)) {
        throw new KantineError('identity_insecure', `identity.issuer ${this.cfg.issuer} is plain HTTP beyond loopback`);
      }
      this.discovered = oidc
        .discovery(
          issuer,
          this.cfg.client_id,
          { client_secret: this.clientSecret },
          oidc.ClientSecretBasic(this.clientSecret),
          {
            ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
            timeout: 10,
          },
        )
        .then((config) => {
          // Check the ID token's signature too (against the provider's published keys), not
          // only TLS to its token endpoint.
          oidc.enableNonRepudiationChecks(config);
          return config;
        })
        .catch((err: unknown) => {
          this.discovered = undefined;
          throw new KantineError(
            'identity_provider_unreachable',
            `discovery at ${this.cfg.issuer} failed: ${reason(err)}`,
          );
        });
    }
    return this.discovered;
  }

  /** Where the browser goes to sign in (code flow, PKCE S256, state and nonce). */
  async authorizationUrl(checks: LoginChecks): Promise<string> {
    const config = await this.configuration();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.cfg.scopes.join(' '),
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.code_verifier),
      code_challenge_method: 'S256',
    });
    return url.href;
  }

  /**
   * The provider's answer at the callback (`query`: the raw query string): the code exchanged
   * with the PKCE verifier, the ID token checked (issuer, audience, expiry, nonce, signature).
   * Any failure is `login_failed`, with openid-client's reason.
   */
  async callback(query: string, checks: LoginChecks): Promise<CallbackResult> {
    const config = await this.configuration();
    const current = new URL(this.redirectUri);
    current.search = query;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: checks.code_verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw new KantineError('login_failed', `the provider's answer was refused: ${reason(err)}`);
    }
    const idClaims = tokens.claims();
    if (!idClaims || !tokens.id_token) throw new KantineError('login_failed', 'the provider gave no ID token');
    const claims: Record<string, unknown> = { ...idClaims };
    // Some brokers give the CPR (or the name) only at userinfo: fill in what the ID token lacks.
    const wanted = Object.values(this.cfg.claims);
    if (wanted.some((c) => claims[c] === undefined) && config.serverMetadata().userinfo_endpoint) {
      try {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        for (const c of wanted) if (claims[c] === undefined && info[c] !== undefined) claims[c] = info[c];
      } catch (err) {
        throw new KantineError('login_failed', `the provider's userinfo was refused: ${reason(err)}`);
      }
    }
    return { claims, issuer: idClaims.iss, id_token: tokens.id_token };
  }

  /**
   * The provider's logout URL (RP-initiated logout, naming the client and where to come back), or
   * central's own front page when the provider has none.
   */
  async endSessionUrl(): Promise<string> {
    const config = await this.configuration().catch(() => undefined);
    if (!config?.serverMetadata().end_session_endpoint) return this.postLogoutRedirectUri;
    // The client, not the ID token, names us: an ID token is an unencrypted JWT carrying the CPR
    // claim, and a URL ends up in the browser's history and the provider's access log.
    return oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: this.postLogoutRedirectUri,
      client_id: this.cfg.client_id,
    }).href;
  }
}
