#!/usr/bin/env -S node --import=tsx
/**
 * kantine-card: check kantine's card crypto against other implementations.
 *
 *   kantine-card sun-verify --meta-key HEX --file-key HEX --picc HEX --mac HEX [--mac-input TEXT]
 *   kantine-card twin [--state FILE] [--slot N]     card twins on a vpcd reader, by hand
 *
 * prints one JSON object {"valid": true|false, "uid": "…", "counter": N}. Bad arguments exit 2
 * with a coded error on stderr.
 */
import { KantineError } from '@kantine/protocol';
import { Command } from 'commander';
import { verifySun } from './sun.ts';
import { twinShell } from './twin/shell.ts';

function hexArg(name: string, bytes: number) {
  return (value: string): Buffer => {
    if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(value)) {
      throw new KantineError('invalid_request', `--${name} must be ${bytes} bytes as ${bytes * 2} hex digits`);
    }
    return Buffer.from(value, 'hex');
  };
}

const program = new Command('kantine-card')
  .description("kantine's card tools: NTAG 424 DNA crypto for anyone checking it against their own")
  // Errors leave as one coded JSON object (below), not as commander's own text.
  .configureOutput({ writeErr: () => undefined })
  .exitOverride();

program
  .command('sun-verify')
  .description('verify one SUN message (PICCData + MAC) with the two SDM keys')
  .requiredOption('--meta-key <hex>', 'SDM meta-read key (16 bytes, hex)', hexArg('meta-key', 16))
  .requiredOption('--file-key <hex>', 'SDM file-read key (16 bytes, hex)', hexArg('file-key', 16))
  .requiredOption('--picc <hex>', 'encrypted PICCData (16 bytes, hex)', hexArg('picc', 16))
  .requiredOption('--mac <hex>', 'the mirrored MAC (8 bytes, hex)', hexArg('mac', 8))
  .option('--mac-input <text>', 'the mirrored text the MAC covers (empty by default)', '')
  .action((o: { metaKey: Buffer; fileKey: Buffer; picc: Buffer; mac: Buffer; macInput: string }) => {
    const result = verifySun({
      metaReadKey: o.metaKey,
      fileReadKey: o.fileKey,
      piccData: o.picc,
      mac: o.mac,
      macInput: Buffer.from(o.macInput, 'utf8'),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });

program
  .command('twin')
  .description('card twins on a vpcd reader slot, laid on and taken away by hand (needs pcscd with vsmartcard-vpcd)')
  .option('--state <file>', 'where the cards are kept between runs', 'kantine-twins.json')
  .option('--slot <n>', 'vpcd slot: 0 is "Virtual PCD 00 00", 1 is "… 00 01"', '0')
  .option('--host <host>', 'where pcscd with vpcd runs', '127.0.0.1')
  .action(async (o: { state: string; slot: string; host: string }) => {
    const slot = Number(o.slot);
    if (!Number.isInteger(slot) || slot < 0 || slot > 9) throw new KantineError('invalid_request', '--slot is 0 to 9');
    await twinShell({ state: o.state, slot, host: o.host });
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof KantineError) {
    process.stderr.write(`${JSON.stringify(err.toJSON())}\n`);
    process.exit(2);
  }
  const e = err as { code?: string; exitCode?: number; message?: string };
  // commander's own refusals (missing option, unknown command) and --help / --version
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
  if (e.code?.startsWith('commander.')) {
    process.stderr.write(`${JSON.stringify({ code: 'invalid_request', message: e.message ?? '', details: [] })}\n`);
    process.exit(2);
  }
  throw err;
}
