import type { PersonRole } from '../http/route.ts';
import type { Scope } from './tokens.ts';

/** A machine: a service token (IT's tool, an integration, monitoring), or an operator's command. */
export interface ServiceActor {
  kind: 'service';
  token_id: string | null;
  token_name: string;
  scope: Scope | 'operator';
}

/** The staff roles a person may be granted for every site. */
export type StaffRole = 'admin' | 'finance';

/** A person signed in through the identity provider, as a request's route let them in. */
export interface PersonActor {
  kind: 'person';
  person_id: string;
  name: string;
  session_id: string;
  /** Their staff roles and the sites whose office they work at (all routes see these). */
  staff: readonly StaffRole[];
  office_sites: readonly string[];
  /** Their role on the route's `:account`, if the route has one. */
  account_role: 'guardian' | 'relation' | null;
  /** The role the route let them in as (the first of the route's roles they hold). */
  role: PersonRole;
}

/** Who made a request or ran a command. */
export type Actor = ServiceActor | PersonActor;

/** A session's holder, as the session store finds it from the cookie. */
export interface SessionHolder {
  session_id: string;
  person_id: string;
  /** The session's CSRF token: every state-changing request of a person must carry it. */
  csrf: string;
}

/**
 * What the API needs to know of people: the session behind a cookie, a person's staff roles,
 * and their role on an account. Wired by `Central` from the identity and people services.
 */
export interface PersonAuth {
  /** The session behind a `__Host-kantine_session` cookie value; throws `bad_credentials` if none is live. */
  session(cookie: string): Promise<SessionHolder>;
  /** The person's name and staff roles; throws `bad_credentials` if the person is gone. */
  person(personId: string): Promise<{ name: string; staff: readonly StaffRole[]; office_sites: readonly string[] }>;
  /** The person's role on an account: guardian, relation, or none. */
  onAccount(personId: string, accountId: string): Promise<'guardian' | 'relation' | null>;
  /** The sites that serve an account (a school office is let in on the accounts of its sites only). */
  accountSites(accountId: string): Promise<readonly string[]>;
}

/**
 * The session cookie's name (HttpOnly; Secure; SameSite=Lax; Path=/). The `__Host-` prefix makes
 * browsers refuse it unless it is Secure, for this host only and for every path: a neighbouring
 * host of the municipality's domain cannot set one for us (cookie tossing, session fixation).
 */
export const SESSION_COOKIE = '__Host-kantine_session';
