#!/usr/bin/env -S node --import=tsx
/**
 * kantine-gateway --config /etc/kantine/gateway.json
 *
 * Runs one site's gateway until SIGINT/SIGTERM. Logs are JSON lines on stdout (pino).
 * `kantine-gateway staff add|list|remove …` manages the staff who log in to the tills.
 * `kantine-gateway integration add|list|revoke …` manages integrations (Node-RED and the like).
 * `kantine-gateway reader enrol|list|revoke …` makes one-time enrolment tokens and revokes readers.
 * `kantine-gateway release publish|target|list …` hands signed reader releases to the readers.
 */
import { parseArgs } from 'node:util';
import { KantineError } from '@kantine/protocol';
import { loadGatewayConfig } from './config.ts';
import { Gateway } from './gateway.ts';
import { integrationCommand } from './integration-cli.ts';
import { readerCommand } from './reader-cli.ts';
import { releaseCommand } from './release-cli.ts';
import { staffCommand } from './staff-cli.ts';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { config: { type: 'string', short: 'c' } },
    allowPositionals: true,
    strict: false,
  });
  const path =
    (values.config as string | undefined) ?? process.env.KANTINE_GATEWAY_CONFIG ?? '/etc/kantine/gateway.json';
  if (positionals[0] === 'staff') return staffCommand(process.argv.slice(3), path);
  if (positionals[0] === 'integration') return integrationCommand(process.argv.slice(3), path);
  if (positionals[0] === 'reader') return readerCommand(process.argv.slice(3), path);
  if (positionals[0] === 'release') return releaseCommand(process.argv.slice(3), path);
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
