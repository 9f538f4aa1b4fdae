#!/usr/bin/env -S node --import=tsx
/**
 * kantine-gateway --config /etc/kantine/gateway.json
 *
 * Runs one site's gateway until SIGINT/SIGTERM. Logs are JSON lines on stdout (pino).
 * `kantine-gateway staff add|list|remove …` manages the staff who log in to the tills.
 * `kantine-gateway integration add|list|revoke …` manages integrations (Node-RED and the like).
 * `kantine-gateway reader enrol|list|revoke …` makes one-time enrolment tokens and revokes readers.
 * `kantine-gateway release publish|target|list …` hands signed reader releases to the readers.
 * `kantine-gateway backup <file>` copies the ledger consistently while the gateway runs.
 * `kantine-gateway --help` and `kantine-gateway <command> --help` say the rest (gateway/src/cli/).
 */
import { KantineError } from '@kantine/protocol';
import { Command, Option } from 'commander';
import { backupCommand } from './cli/backup.ts';
import { integrationCommands } from './cli/integration.ts';
import { readerCommands } from './cli/reader.ts';
import { releaseCommands } from './cli/release.ts';
import { staffCommands } from './cli/staff.ts';
import { loadGatewayConfig } from './config.ts';
import { Gateway } from './gateway.ts';

const program = new Command('kantine-gateway')
  .description(
    "one school's kantine gateway: the site's MQTT broker, its ledger, the till API and the link to central. " +
      'With no command it runs until SIGINT/SIGTERM, logging JSON lines on stdout.',
  )
  .addOption(
    new Option('-c, --config <file>', "the gateway's config file")
      .env('KANTINE_GATEWAY_CONFIG')
      .default('/etc/kantine/gateway.json'),
  )
  // commander's own refusals (a missing argument, an unknown command) leave coded, like the rest
  .configureOutput({
    outputError: (message, write) => write(`kantine-gateway: invalid_request: ${message.replace(/^error: /, '')}`),
  })
  .action(async () => {
    if (program.args.length) {
      throw new KantineError('invalid_request', `unknown command '${program.args[0]}' (see kantine-gateway --help)`);
    }
    const gateway = new Gateway({ config: loadGatewayConfig(configPath()) });
    await gateway.start();
    const stop = () => {
      void gateway.stop().finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

function configPath(): string {
  return program.opts<{ config: string }>().config;
}

staffCommands(program, configPath);
integrationCommands(program, configPath);
readerCommands(program, configPath);
releaseCommands(program, configPath);
backupCommand(program, configPath);
// after the commands, so that only the bare `kantine-gateway` sees a stray word (and names it)
program.allowExcessArguments();

program.parseAsync().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-gateway: ${err.code}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
  } else {
    process.stderr.write(`kantine-gateway: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
