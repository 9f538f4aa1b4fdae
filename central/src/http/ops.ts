import type { Sql } from '../db/db.ts';
import { type CentralMetrics, type LinkProbe, withTimeout } from '../metrics/index.ts';
import { access, type Route } from './route.ts';

// A database that takes longer than this to say `SELECT 1` is not ready to serve.
const READY_QUERY_MS = 2_000;

export interface OpsSources {
  db: Sql;
  probe: LinkProbe;
  metrics: CentralMetrics;
}

/**
 * For operations: `/readyz` (public, as `/healthz`: whether this worker can serve now — its
 * database answers and its broker is connected; 503 naming the check that failed, and nothing
 * else) and `/metrics` (Prometheus, for a monitoring or admin token).
 */
export function opsRoutes({ db, probe, metrics }: OpsSources): Route[] {
  return [
    {
      method: 'GET',
      url: '/readyz',
      access: 'public',
      handler: async (_req, reply) => {
        const database = await withTimeout(db.query('SELECT 1'), READY_QUERY_MS).then(
          () => true,
          () => false,
        );
        const checks = { database, broker: probe.brokerUp() };
        const ready = checks.database && checks.broker;
        reply.status(ready ? 200 : 503);
        return { ready, checks };
      },
    },
    {
      method: 'GET',
      url: '/metrics',
      access: access.tokens('monitoring', 'admin'),
      handler: async (_req, reply) => {
        const text = await metrics.text();
        reply.type(metrics.contentType);
        return text;
      },
    },
  ];
}
