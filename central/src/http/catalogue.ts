import { AllergensBody, CategoriesBody, ContactBody, check, KantineError } from '@kantine/protocol';
import type { Central } from '../central.ts';
import { actorOf } from './api.ts';
import type { Route } from './route.ts';

/**
 * Issue 18's routes at central: the municipality's lists of product categories and allergens
 * (read by anyone signed in — the portal's "Tilladelser" and "Allergier" — kept by its
 * administrator), and a person's own contact details for receipts and alerts.
 */
export function catalogueRoutes(central: Pick<Central, 'catalogue' | 'contact'>): Route[] {
  const me = (req: Parameters<Route['handler']>[0]) => {
    const actor = actorOf(req);
    if (actor.kind !== 'person') throw new KantineError('scope_denied', 'only a signed-in person has contact details');
    return actor.person_id;
  };
  return [
    {
      method: 'GET',
      url: '/api/catalogue',
      access: { tokens: ['admin'], people: ['person'] },
      handler: async () => central.catalogue.get(),
    },
    {
      method: 'PUT',
      url: '/api/catalogue/categories',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async (req, reply) => {
        await central.catalogue.put('category', check(CategoriesBody, req.body, 'invalid_request'));
        return reply.status(204).send();
      },
    },
    {
      method: 'PUT',
      url: '/api/catalogue/allergens',
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async (req, reply) => {
        await central.catalogue.put('allergen', check(AllergensBody, req.body, 'invalid_request'));
        return reply.status(204).send();
      },
    },
    {
      method: 'GET',
      url: '/api/me/contact',
      access: { tokens: [], people: ['person'] },
      handler: async (req) => central.contact.get(me(req)),
    },
    {
      method: 'PUT',
      url: '/api/me/contact',
      access: { tokens: [], people: ['person'] },
      handler: async (req, reply) => {
        const body = check(ContactBody, req.body, 'invalid_request');
        await central.contact.set(me(req), body);
        return reply.status(204).send();
      },
    },
  ];
}
