#!/usr/bin/env -S node --import=tsx
/**
 * kantine-central --config /etc/kantine/central.json
 *
 * Runs one central worker until SIGINT/SIGTERM: the database (Postgres, or PGlite embedded),
 * the link to every site's gateway over MQTT and the HTTP API. Logs are JSON lines (pino).
 * With no config file at all (`--config` not given and none at the default path) it runs on the
 * embedded defaults: PGlite in data/central, its own broker on 8884, the API on 127.0.0.1:8090.
 * `kantine-central token add|list|revoke …` manages the API's scoped tokens, and
 * `kantine-central audit` lists who changed what (central/src/cli.ts), and
 * `kantine-central restore-report` what a restore lost (central/src/restore/).
 */
import { existsSync } from 'node:fs';
import { KantineError } from '@kantine/protocol';
import { Command, Option } from 'commander';
import { auditCommand, tokenCommands } from './cli.ts';
import { type CentralConfig, loadCentralConfig, parseCentralConfig } from './config.ts';
import { roleCommands } from './people/role-cli.ts';
import { restoreReportCommand } from './restore/command.ts';
import { CentralService } from './service.ts';

const DEFAULT_PATH = '/etc/kantine/central.json';

const program = new Command('kantine-central')
  .description(
    "one worker of kantine's central system (accounts, cards, guardians, money, the link to every site's " +
      'gateway). With no command it runs until SIGINT/SIGTERM, logging JSON lines on stdout. Several workers ' +
      "on one database share the gateways' messages (MQTT shared subscriptions).",
  )
  .addOption(
    new Option(
      '-c, --config <file>',
      `the config file (default: ${DEFAULT_PATH}, and with none there the embedded defaults: PGlite in data/central)`,
    ).env('KANTINE_CENTRAL_CONFIG'),
  )
  .addOption(
    new Option(
      '--http-port <port>',
      "the API's port instead of the config's http.port: one config for several workers on one host " +
        '(kantine-central@<port>.service, central/deploy/)',
    ),
  )
  .configureOutput({
    outputError: (message, write) => write(`kantine-central: invalid_request: ${message.replace(/^error: /, '')}`),
  })
  .action(async () => {
    if (program.args.length) {
      throw new KantineError('invalid_request', `unknown command '${program.args[0]}' (see kantine-central --help)`);
    }
    const config = loadConfig();
    const port = program.opts<{ httpPort?: string }>().httpPort;
    if (port !== undefined) {
      if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
        throw new KantineError('config_invalid', `--http-port ${port} is not a port (1 to 65535)`);
      }
      config.http.port = Number(port);
    }
    const service = new CentralService({ config });
    await service.start();
    const stop = () => {
      void service.stop().finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

function loadConfig(): CentralConfig {
  const given = program.opts<{ config?: string }>().config;
  return given || existsSync(DEFAULT_PATH) ? loadCentralConfig(given ?? DEFAULT_PATH) : parseCentralConfig({});
}

tokenCommands(program, loadConfig);
auditCommand(program, loadConfig);
roleCommands(program, loadConfig);
restoreReportCommand(program, loadConfig);
// after the commands, so that only the bare `kantine-central` sees a stray word (and names it)
program.allowExcessArguments();

program.parseAsync().catch((err: unknown) => {
  if (err instanceof KantineError) {
    process.stderr.write(`kantine-central: ${err.code}: ${err.message}\n`);
    for (const d of err.details) process.stderr.write(`  ${d}\n`);
  } else {
    process.stderr.write(`kantine-central: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
