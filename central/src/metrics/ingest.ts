import type { LinkService } from '../link/link.ts';
import type { CentralMetrics } from './central-metrics.ts';
import type { LastSeen } from './last-seen.ts';

/**
 * Counts and times every site message the link handles, and notes the site as seen. Wraps the
 * link service's one entry point (`handleUp`), so the link's code stays as it is.
 */
export function instrumentIngest(link: LinkService, metrics: CentralMetrics, lastSeen: LastSeen): void {
  const handleUp = link.handleUp.bind(link);
  link.handleUp = async (site, msg) => {
    lastSeen.seen(site); // heard from, whatever becomes of the message
    const end = metrics.ingestSeconds.startTimer({ type: msg.t });
    try {
      const refusals = await handleUp(site, msg);
      metrics.ingestMessages.inc({ type: msg.t, result: 'ok' });
      if (msg.t === 'changes') metrics.ingestChanges.inc(msg.changes.length);
      return refusals;
    } catch (err) {
      metrics.ingestMessages.inc({ type: msg.t, result: 'error' });
      throw err;
    } finally {
      end();
    }
  };
}
