import { check, KantineError, MenuBody, MenusQuery, OrderBody, OrderId, RelationWebshopBody } from '@kantine/protocol';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { addDays, today } from '../webshop/menus.ts';
import type { Orderer, WebshopService } from '../webshop/orders.ts';
import { actorOf, noteAudit } from './api.ts';
import { Id, param, type Route } from './route.ts';

const LocalDateParam = Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' });
const MAX_DAYS = 31;

/**
 * The webshop (issue 20; the contract: docs in webshop-api.md): menus per site, place and date
 * (made at the kiosk and sent up the link, or here by an administrator), guardians' orders with
 * the child's own rules, cancel, and "Vis ordrer". A relation only where a guardian allowed it.
 */
export function webshopRoutes(webshop: WebshopService): Route[] {
  /** From/to of a query: today and two weeks on by default, at most a month. */
  const period = (req: FastifyRequest): { from: string; to: string } => {
    const q = check(MenusQuery, req.query ?? {}, 'invalid_request');
    const from = q.from ?? today(webshop.now());
    const to = q.to ?? addDays(from, 13);
    if (to < from || addDays(from, MAX_DAYS) < to)
      throw new KantineError('invalid_request', `from … to is at most ${MAX_DAYS} days`, ['/to']);
    return { from, to };
  };
  /** Who acts: a relation only where a guardian allowed the webshop. */
  const orderer = async (req: FastifyRequest, account: string): Promise<Orderer> => {
    const actor = actorOf(req);
    if (actor.kind !== 'person') return { person_id: null, name: actor.token_name };
    if (actor.role === 'relation' && !(await webshop.relationAllowed(account, actor.person_id)))
      throw new KantineError('webshop_relation_not_allowed');
    return { person_id: actor.person_id, name: actor.name };
  };
  const order = (req: FastifyRequest) => param(OrderId, req, 'order');

  return [
    {
      method: 'PUT',
      url: '/api/sites/:site/menus/:place/:date',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        const site = param(Id, req, 'site');
        const place = param(Id, req, 'place');
        const date = param(LocalDateParam, req, 'date');
        const body = check(MenuBody, req.body, 'invalid_request');
        await webshop.putMenu(site, place, date, body);
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/sites/:site/menus',
      access: { tokens: ['admin', 'it'], people: ['admin', 'office'] },
      handler: async (req) => {
        const site = param(Id, req, 'site');
        const { from, to } = period(req);
        return { menus: await webshop.siteMenus(site, from, to) };
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/webshop/menus',
      access: { tokens: ['admin'], people: ['guardian', 'relation'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await orderer(req, account);
        const { from, to } = period(req);
        return { menus: await webshop.childMenus(account, from, to) };
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/webshop/orders',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const account = param(Id, req, 'account');
        const by = await orderer(req, account);
        const body = check(OrderBody, req.body, 'invalid_request');
        const placed = await webshop.place(account, body, by);
        noteAudit(req, { order: placed.id, payment: placed.payment });
        return reply.status(201).send({ order: placed });
      },
    },
    {
      // The same refusals as placing the order, nothing booked: the basket page shows the till's reason before paying.
      method: 'POST',
      url: '/api/accounts/:account/webshop/orders/check',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await orderer(req, account);
        const body = check(OrderBody, req.body, 'invalid_request');
        return { ok: true, ...(await webshop.check(account, body)) };
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/webshop/orders',
      access: { tokens: ['admin'], people: ['guardian', 'relation'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await orderer(req, account);
        return { orders: await webshop.list(account) };
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/webshop/orders/:order',
      access: { tokens: ['admin'], people: ['guardian', 'relation'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await orderer(req, account);
        return { order: await webshop.get(account, order(req)) };
      },
    },
    {
      method: 'POST',
      url: '/api/accounts/:account/webshop/orders/:order/cancel',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        await orderer(req, account);
        return { order: await webshop.cancel(account, order(req)) };
      },
    },
    {
      method: 'GET',
      url: '/api/me/webshop/orders',
      access: { tokens: [], people: ['person'] },
      handler: async (req) => {
        const actor = actorOf(req);
        if (actor.kind !== 'person') throw new KantineError('scope_denied', 'only a signed-in person has orders');
        return { orders: await webshop.ofPerson(actor.person_id) };
      },
    },
    {
      // shopfix: paid orders nobody collected whose refund the provider refused, retried with back-off.
      method: 'GET',
      url: '/api/webshop/refund-problems',
      access: { tokens: ['admin', 'finance'], people: ['finance'] },
      handler: async () => ({ orders: await webshop.refundProblems() }),
    },
    {
      method: 'PUT',
      url: '/api/accounts/:account/relations/:person/webshop',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const account = param(Id, req, 'account');
        const person = param(Id, req, 'person');
        const body = check(RelationWebshopBody, req.body, 'invalid_request');
        const actor = actorOf(req);
        if (actor.kind !== 'person') throw new KantineError('scope_denied');
        await webshop.setRelation(account, person, body.allowed, actor.person_id);
        noteAudit(req, { webshop: body.allowed ? 'allowed' : 'not allowed' });
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/accounts/:account/relations/:person/webshop',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req) => {
        const account = param(Id, req, 'account');
        const person = param(Id, req, 'person');
        return { allowed: await webshop.relation(account, person) };
      },
    },
  ];
}
