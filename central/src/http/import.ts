import { check, ImportRequest } from '@kantine/protocol';
import type { ImportService } from '../import/import.ts';
import { access, Id, param, type Route } from './route.ts';

/** The old system's accounts, balances, agreements, limits and cards (provisioning's `kantine import`). */
export function importRoutes(imports: ImportService): Route[] {
  return [
    {
      method: 'POST',
      url: '/api/sites/:site/import',
      access: access.tokens('admin', 'it'),
      bodyLimit: 20 * 1024 * 1024,
      handler: async (req) => {
        const site = param(Id, req, 'site');
        const body = check(ImportRequest, req.body, 'invalid_request');
        return imports.run(site, body);
      },
    },
  ];
}
