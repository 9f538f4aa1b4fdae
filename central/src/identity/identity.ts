import { randomBytes } from 'node:crypto';
import { KantineError } from '@kantine/protocol';
import type { IdentityConfig } from '../config.ts';
import type { LoginState, LoginStates } from './login-states.ts';
import type { RelyingParty } from './relying-party.ts';
import { safeReturnPath } from './return-path.ts';
import type { SessionService } from './sessions.ts';

/** What the provider says of a person, under central's own names (the config maps the claims). */
export interface SignInClaims {
  issuer: string;
  sub: string;
  uuid?: string;
  name: string;
  email?: string;
  /** 10 digits. Goes to the people service only — never into a log line, URL or answer. */
  cpr: string;
}

/** The people service's part in signing in: the person for these claims (made at first sign-in). */
export interface SignInPeople {
  signIn(claims: SignInClaims): Promise<{ person_id: string }>;
}

export interface BrowserInfo {
  source?: string;
  user_agent?: string;
}

const random = (): string => randomBytes(32).toString('base64url');

const BROWSER_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const SUB_MAX = 255;
const NAME_MAX = 200;
const EMAIL_MAX = 254;

function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}

/** The CPR claim as 10 digits (a dash after the date is taken away), or undefined. */
function cprOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^([0-9]{6})-?([0-9]{4})$/.exec(value);
  return m ? `${m[1]}${m[2]}` : undefined;
}

/**
 * Signing people in through the OpenID Connect provider (code flow with PKCE, state and nonce)
 * and out again. A login's state and a person's session are in Postgres: the login may start on
 * one worker and come back to another.
 */
export class IdentityService {
  constructor(
    private readonly cfg: IdentityConfig,
    private readonly rp: RelyingParty,
    private readonly logins: LoginStates,
    private readonly sessions: SessionService,
    private readonly people: SignInPeople,
  ) {}

  /**
   * Starts a login: where to send the browser, and the value of the short-lived cookie that binds
   * the login to this browser (`browserNow`, the cookie it already has, is kept). `returnTo` (a
   * path on this site) is where the person lands after.
   */
  async startLogin(
    returnTo: unknown,
    browserNow: string | undefined,
    source: string,
  ): Promise<{ location: string; browser: string }> {
    const login: LoginState = {
      return_to: safeReturnPath(returnTo),
      // 32 random bytes each (what openid-client's own helpers make); the verifier is 43
      // characters, within PKCE's 43–128.
      state: random(),
      nonce: random(),
      code_verifier: random(),
    };
    const location = await this.rp.authorizationUrl(login); // before the row: an unreachable provider leaves nothing
    // The browser's login cookie if it has one (a second tab's login must not spoil the first's).
    const browser = browserNow !== undefined && BROWSER_PATTERN.test(browserNow) ? browserNow : random();
    await this.logins.put(login, browser, source, this.cfg.login_starts_per_source);
    return { location, browser };
  }

  /**
   * The provider's callback (`query`: its raw query string; `browser`: the login cookie's value):
   * the login's state taken (once), the code exchanged, the ID token checked, the person found or
   * made, a session started. Refusals: `login_state_unknown`, `login_failed`, `cpr_missing`.
   */
  async finishLogin(
    query: string,
    browser: string | undefined,
    info: BrowserInfo,
  ): Promise<{ cookie: string; session_id: string; person_id: string; return_to: string }> {
    const state = new URLSearchParams(query).get('state');
    if (!state || state.length > 200) throw new KantineError('login_state_unknown', 'the callback has no state');
    const login = await this.logins.take(state, browser);
    const result = await this.rp.callback(query, login);
    const names = this.cfg.claims;
    const c = result.claims;
    const sub = text(c[names.sub], SUB_MAX);
    if (!sub) throw new KantineError('login_failed', `the ID token has no usable ${names.sub} claim`);
    const cpr = cprOf(c[names.cpr]);
    if (!cpr) {
      throw new KantineError('cpr_missing', `the provider gave no CPR number in the ${names.cpr} claim`, [
        `/identity/claims/cpr the claim ${names.cpr} is missing or not 10 digits`,
      ]);
    }
    const uuid = text(c[names.uuid], SUB_MAX);
    const email = text(c[names.email], EMAIL_MAX);
    const { person_id } = await this.people.signIn({
      issuer: result.issuer,
      sub,
      ...(uuid === undefined ? {} : { uuid }),
      name: text(c[names.name], NAME_MAX) ?? '',
      ...(email === undefined ? {} : { email }),
      cpr,
    });
    // The ID token is not kept: it carries the CPR claim, and logout names the client instead.
    const session = await this.sessions.create({ person_id, ...info });
    return { cookie: session.cookie, session_id: session.session_id, person_id, return_to: login.return_to };
  }

  /** Where the browser goes after the session ended at central: the provider's logout. */
  endSessionUrl(): Promise<string> {
    return this.rp.endSessionUrl();
  }

  /** Central's front page, where a browser with no session goes after logout. */
  get frontPage(): string {
    return this.rp.postLogoutRedirectUri;
  }
}
