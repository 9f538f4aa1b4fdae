import { Cpr, check, KantineError } from '@kantine/protocol';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { PersonActor } from '../auth/actor.ts';
import type { Central } from '../central.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

// What a person types to add a child: strings of bounded length. Whether they are a CPR number
// and a card number is the match's business (every mismatch gets the same answer).
const AddChildBody = Type.Object(
  {
    cpr: Type.String({ maxLength: 20 }),
    card_number: Type.String({ maxLength: 20 }),
  },
  { additionalProperties: false },
);

const RelationBody = Type.Union([
  Type.Object({ email: Type.String({ format: 'email', maxLength: 200 }) }, { additionalProperties: false }),
  Type.Object({ cpr: Cpr }, { additionalProperties: false }),
]);

const RoleBody = Type.Object(
  {
    cpr: Cpr,
    role: Type.Union([Type.Literal('office'), Type.Literal('admin'), Type.Literal('finance')]),
    site: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
    granted: Type.Boolean(),
  },
  { additionalProperties: false },
);

const GuardianCprsBody = Type.Object({ cprs: Type.Array(Cpr, { maxItems: 6 }) }, { additionalProperties: false });

// An invitation's token: 32 random bytes, base64url.
const INVITE_TOKEN = /^[A-Za-z0-9_-]{43}$/;

function person(req: FastifyRequest): PersonActor {
  const actor = actorOf(req);
  if (actor.kind !== 'person') throw new KantineError('scope_denied', 'only a signed-in person may do this');
  return actor;
}

/**
 * People: adding a child's account, relations, guardianship by CPR number on the child's record,
 * staff roles. CPR numbers come in, and go out masked only (`010190-xxxx`).
 */
export function peopleRoutes(central: Central): Route[] {
  const { people } = central;

  /** Office staff act only for the children of their sites. */
  const officeMayReach = async (req: FastifyRequest, account: string): Promise<void> => {
    const actor = actorOf(req);
    if (actor.kind !== 'person' || actor.role !== 'office') return;
    const [at] = await central.db.query('SELECT 1 FROM account_sites WHERE account_id = $1 AND site_id = ANY($2)', [
      account,
      [...actor.office_sites],
    ]);
    if (!at) throw new KantineError('not_found', `no account ${account}`);
  };

  return [
    {
      method: 'POST',
      url: '/api/me/accounts',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const me = person(req);
        const body = check(AddChildBody, req.body, 'invalid_request');
        const added = await people.addChild(me.person_id, req.ip, body);
        noteAudit(req, { account: added.account_id }); // the child's audit shows who became guardian
        return reply.status(201).send(added);
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/relations',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req) => people.relations(param(Id, req, 'account')),
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/relations',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const me = person(req);
        const account = param(Id, req, 'account');
        const body = check(RelationBody, req.body, 'invalid_request');
        if ('email' in body) {
          const invite = await people.inviteByEmail(account, me.person_id, body.email);
          return reply.status(201).send({
            invite_id: invite.invite_id,
            // the link the relation opens (the mail that carries it comes later); valid once, 7 days
            token: invite.token,
            accept_path: `/api/me/invites/${invite.token}/accept`,
            expires_at: invite.expires_at,
          });
        }
        return reply.status(201).send(await people.inviteByCpr(account, body.cpr));
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/relations/:person/remove',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        await people.removeRelation(param(Id, req, 'account'), param(Id, req, 'person'));
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/me/invites/:invite/accept',
      access: { tokens: [], people: ['person'] },
      handler: async (req) => {
        const me = person(req);
        const token = (req.params as { invite?: unknown }).invite;
        if (typeof token !== 'string' || !INVITE_TOKEN.test(token)) {
          throw new KantineError('invite_invalid');
        }
        const accepted = await people.acceptInvite(me.person_id, token);
        noteAudit(req, { account: accepted.account_id });
        return accepted;
      },
    },
    {
      method: 'PUT',
      url: '/api/accounts/:account/guardian-cprs',
      access: { tokens: ['admin'], people: ['admin', 'office'] },
      handler: async (req, reply) => {
        const account = param(Id, req, 'account');
        const body = check(GuardianCprsBody, req.body, 'invalid_request');
        await officeMayReach(req, account);
        // A person never writes their own CPR number on a child (it would make them its guardian,
        // money and all): a colleague or the municipality does. Tokens (the register's import) may.
        const actor = actorOf(req);
        await people.setGuardianCprs(account, body.cprs, actor.kind === 'person' ? actor.person_id : undefined);
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/guardian-cprs',
      access: { tokens: ['admin'], people: ['admin', 'office'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await officeMayReach(req, account);
        const [a] = await central.db.query('SELECT 1 FROM accounts WHERE id = $1', [account]);
        if (!a) throw new KantineError('not_found', `no account ${account}`);
        return { guardians: await people.guardianCprs(account) };
      },
    },
    {
      method: 'PUT',
      url: '/api/people/roles',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async (req, reply) => {
        const body = check(RoleBody, req.body, 'invalid_request');
        noteAudit(req, { role: body.role, ...(body.site ? { site: body.site } : {}), granted: String(body.granted) });
        if (body.granted) await people.grantRole(body.cpr, body.role, body.site ?? null);
        else await people.revokeRole(body.cpr, body.role, body.site ?? null);
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/people/roles',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async () => ({ roles: await people.listRoles() }),
    },
  ];
}
