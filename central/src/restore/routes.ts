import type { Central } from '../central.ts';
import type { Route } from '../http/route.ts';
import { restoreReport } from './report.ts';

/** The restore report for an administrator (`kantine-central restore-report` on the command line). */
export function restoreRoutes(central: Central): Route[] {
  return [
    {
      method: 'GET',
      url: '/api/restore-report',
      // the administrator's (token or person) only: it names children and their money
      access: { tokens: ['admin'], people: ['admin'] },
      handler: async () => restoreReport(central.db),
    },
  ];
}
