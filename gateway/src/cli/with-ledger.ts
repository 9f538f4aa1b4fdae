import { systemClock } from '../clock.ts';
import { type GatewayConfig, loadGatewayConfig } from '../config.ts';
import { Ledger } from '../ledger/ledger.ts';

/**
 * The gateway's command-line tools (staff, integration, reader, release) work on the ledger file
 * beside a running gateway: open it from the config, do the work, close it whatever happens.
 */
export async function withLedger<T>(
  configPath: string,
  fn: (ledger: Ledger, config: GatewayConfig) => T | Promise<T>,
): Promise<T> {
  const config = loadGatewayConfig(configPath);
  const ledger = new Ledger(config.database, systemClock);
  try {
    return await fn(ledger, config);
  } finally {
    ledger.close();
  }
}
