#!/usr/bin/env -S node --import=tsx
/**
 * kantine-gateway --config /etc/kantine/gateway.json
 *
 * Runs one site's gateway until SIGINT/SIGTERM. Logs are JSON lines on stdout (pino).
 */
import { parseArgs } from 'node:util';
import { KantineError } from '@kantine/protocol';
import { loadGatewayConfig } from './config.ts';
import { Gateway } from './gateway.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
  const path = values.config ?? process.env.KANTINE_GATEWAY_CONFIG ?? '/etc/kantine/gateway.json';
  const gateway = new Gateway({ config: loadGatewayConfig(path) });
  await gateway.start();
  const stop = () => {
    void gateway.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-gateway: ${err.code}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
  } else {
    process.stderr.write(`kantine-gateway: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
