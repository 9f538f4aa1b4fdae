import { ActivateBody, BatchBody, BatchId, CardBody, check, StockRequest } from '@kantine/protocol';
import type { BatchService } from '../cards/batches.ts';
import type { CardService } from '../cards/cards.ts';
import type { StockService } from '../cards/stock.ts';
import { Id, param, type Route, Uid } from './route.ts';

/** Cards: batches from provisioning, blank cards in stock, activation, block and re-open. */
export function cardRoutes(batches: BatchService, stock: StockService, cards: CardService): Route[] {
  return [
    {
      method: 'PUT',
      url: '/api/batches/:batch',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        const id = param(BatchId, req, 'batch');
        const body = check(BatchBody, req.body, 'invalid_request');
        await batches.register(id, Buffer.from(body.sdm_master, 'hex'));
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/batches/:batch/stock',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req) => {
        const id = param(BatchId, req, 'batch');
        const body = check(StockRequest, req.body, 'invalid_request');
        return stock.add(id, body);
      },
    },
    {
      method: 'GET',
      url: '/api/sites/:site/stock',
      access: { tokens: ['admin', 'it'], people: ['admin', 'office'] },
      handler: async (req) => ({ stock: await stock.at(param(Id, req, 'site')) }),
    },
    {
      method: 'PUT',
      url: '/api/cards/:uid',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        const uid = param(Uid, req, 'uid');
        const body = check(CardBody, req.body, 'invalid_request');
        await cards.put({ uid, ...body });
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/cards/:uid/activate',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        const uid = param(Uid, req, 'uid');
        const body = check(ActivateBody, req.body, 'invalid_request');
        await cards.activate(uid, body.account_id);
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/cards/:uid/block',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        await cards.setBlocked(param(Uid, req, 'uid'), true);
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/cards/:uid/unblock',
      access: { tokens: ['admin', 'it'], people: ['admin'] },
      handler: async (req, reply) => {
        await cards.setBlocked(param(Uid, req, 'uid'), false);
        return reply.status(204).send();
      },
    },
  ];
}
