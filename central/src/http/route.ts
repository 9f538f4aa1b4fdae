import { CardUid, check, ID_PATTERN } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type, { type TSchema } from 'typebox';
import type { Scope } from '../auth/tokens.ts';

/**
 * The roles a signed-in person may hold (a person comes in through the identity provider; a
 * machine through a service token):
 * - `person`: anyone signed in (their own profile, their sessions, adding a child's account);
 * - `guardian` / `relation`: the person is a guardian (or a relation) **of the route's
 *   `:account`** — only on routes with an `:account` parameter (central refuses to start else);
 * - `office`: school office staff **of the route's `:site`** (routes with a `:site`), of a site
 *   that serves the route's `:account` (routes with an account), or of any site on routes with
 *   neither (the handler then keeps to `actor.office_sites`);
 * - `admin` (the municipality's administrator) and `finance`: staff roles, for every site.
 */
export type PersonRole = 'person' | 'guardian' | 'relation' | 'office' | 'admin' | 'finance';
export const PERSON_ROLES: readonly PersonRole[] = ['person', 'guardian', 'relation', 'office', 'admin', 'finance'];

/**
 * Who may use a route: `public` (no credentials: `/healthz`, the login's redirects), or the
 * service-token scopes and the person roles that may. Nothing is implied: an `admin` token may
 * use only the routes that list `admin`. Every route declares one; central refuses to start with
 * a route that does not (default deny), and a test tries every route with every scope and role.
 */
export type Access = 'public' | { readonly tokens: readonly Scope[]; readonly people: readonly PersonRole[] };

/** Shorthands for the common declarations. */
export const access = {
  /** Service tokens of these scopes only (no person). */
  tokens: (...tokens: Scope[]): Access => ({ tokens, people: [] }),
  /** These person roles only (no service token). */
  people: (...people: PersonRole[]): Access => ({ tokens: [], people }),
};

/**
 * One route of central's API, declared by its concept's module and registered by `registerApi`
 * (one place to add what every route shares: its authorization, its audit).
 */
export interface Route {
  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  access: Access;
  /** Above the server's default (an import file). */
  bodyLimit?: number;
  /** Keep the body's exact bytes for the handler (`rawBodyOf`): a webhook's signature is over them. */
  rawBody?: boolean;
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

export const Id = Type.String({ pattern: ID_PATTERN });
export const Uid = CardUid;

/** A path parameter, checked against its schema (`name` in the details of a refusal). */
export function param(schema: TSchema, req: FastifyRequest, name: string): string {
  const value = (req.params as Record<string, unknown>)[name];
  const checked = check(Type.Object({ [name]: schema }), { [name]: value }, 'invalid_request') as Record<
    string,
    string
  >;
  return checked[name] as string;
}
