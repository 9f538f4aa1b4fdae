import { check, SiteBody } from '@kantine/protocol';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import type { SiteService } from '../sites/sites.ts';
import { access, Id, param, type Route } from './route.ts';

/** Sites: IT registers a school or club, then gives its gateway the secret (shown once). */
export function siteRoutes(sites: SiteService): Route[] {
  return [
    {
      method: 'GET',
      url: '/api/sites',
      access: { tokens: ['admin', 'it', 'monitoring'], people: ['admin'] },
      handler: async () => ({ sites: await sites.list() }),
    },
    {
      method: 'PUT',
      url: '/api/sites/:site',
      access: access.tokens('admin', 'it'),
      handler: async (req, reply) => {
        const id = param(Id, req, 'site');
        const body = check(SiteBody, req.body, 'invalid_request');
        await sites.put({ id, ...body });
        return reply.status(204).send();
      },
    },
    {
      method: 'POST',
      url: '/api/sites/:site/secret',
      access: access.tokens('admin', 'it'),
      handler: async (req) => {
        const id = param(Id, req, 'site');
        const secret = newSecret();
        await sites.setSecret(id, await hashSecret(secret));
        return { site: id, secret };
      },
    },
  ];
}
