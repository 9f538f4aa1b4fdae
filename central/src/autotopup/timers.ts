import type { Logger } from 'pino';
import type { AutoTopupService } from './autotopup.ts';

/** How often a worker looks for charges due (a request also wakes it at once). */
const CHARGE_EVERY_MS = 1_000;
/** Low-balance alerts: how often balances are compared with the guardians' thresholds. */
const ALERT_EVERY_MS = 30_000;
/** Cards about to expire: looked for every hour (each card is warned about once). */
const EXPIRY_EVERY_MS = 3_600_000;

/**
 * Runs automatic top-up's periodic work in one central worker: charges due, low-balance alerts,
 * expiring cards. Any number of workers may run it (each claims its rows). Returns the stop.
 */
export function startAutotopupTimers(
  service: AutoTopupService,
  log: Logger,
  every: { charge_ms?: number; alert_ms?: number; expiry_ms?: number } = {},
): () => Promise<void> {
  let charging: Promise<unknown> | undefined;
  let again = false;
  const charge = () => {
    if (charging) {
      again = true;
      return;
    }
    charging = service
      .work()
      .catch((err: Error) => log.error({ err: err.message }, 'automatic top-up: charging failed'))
      .finally(() => {
        charging = undefined;
        if (again) {
          again = false;
          charge();
        }
      });
  };
  service.onQueued = () => setImmediate(charge);
  service.onError = (err, charge_id) =>
    log.error({ err: err.message, charge: charge_id }, 'automatic top-up: a charge could not be settled');
  const alerts = () =>
    service.alertLowBalances().catch((err: Error) => log.error({ err: err.message }, 'low-balance alerts failed'));
  const expiry = () =>
    service.warnExpiring().catch((err: Error) => log.error({ err: err.message }, 'card expiry warnings failed'));
  const timers = [
    setInterval(charge, every.charge_ms ?? CHARGE_EVERY_MS),
    setInterval(alerts, every.alert_ms ?? ALERT_EVERY_MS),
    setInterval(expiry, every.expiry_ms ?? EXPIRY_EVERY_MS),
  ];
  for (const t of timers) t.unref();
  setImmediate(expiry);
  return async () => {
    service.onQueued = undefined;
    for (const t of timers) clearInterval(t);
    again = false;
    await charging;
  };
}
