/**
 * kantine-gateway backup <file> --config F
 *
 * A consistent copy of the ledger while the gateway runs: SQLite's online backup (better-sqlite3's
 * `backup`), which copies the database page by page and starts again over what the gateway
 * changes meanwhile. Copying the file alone is not a backup (the WAL holds the newest taps).
 */
import { existsSync, statSync } from 'node:fs';
import { KantineError } from '@kantine/protocol';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { loadGatewayConfig } from '../config.ts';

export function backupCommand(program: Command, configPath: () => string): void {
  program
    .command('backup')
    .description("copy the ledger to a new file, consistently, while the gateway runs (SQLite's online backup)")
    .argument('<file>', 'the copy; must not exist yet')
    .action(async (file: string) => {
      const { database } = loadGatewayConfig(configPath());
      if (!existsSync(database)) throw new KantineError('not_found', `no ledger at ${database}`);
      if (existsSync(file)) throw new KantineError('invalid_request', `${file} exists already: back up to a new file`);
      const db = new Database(database, { fileMustExist: true });
      try {
        db.pragma('busy_timeout = 5000');
        await db.backup(file);
      } finally {
        db.close();
      }
      process.stdout.write(`backup\t${file}\t${statSync(file).size} bytes\n`);
    });
}
