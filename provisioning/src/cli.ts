#!/usr/bin/env node
/**
 * kantine: IT's command-line tool. `kantine --help` and `kantine <command> --help` say the rest;
 * docs/operations/it-guide.md walks through each job.
 *
 * Exit codes: 0 done; 2 a coded error (stderr says what and what to do); 130 stopped by Ctrl-C
 * (a card batch resumes where it stopped); 1 anything else.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { type ImportReport, KantineError } from '@kantine/protocol';
import { type CardStation, PcscStation } from '@kantine/reader/pcsc';
import { Command, Option } from 'commander';
import {
  BatchJournal,
  type JournalCard,
  newBatchKeys,
  printFile,
  programBatch,
  readBatchKeys,
  writeBatchKeys,
} from './card-batch.ts';
import { CentralClient } from './central-client.ts';
import { parseImportCsv } from './import-csv.ts';
import { asKantineError, Output, type Progress } from './output.ts';
import { buildReaderRelease, newReleaseKeys, signRelease, verifyRelease } from './release.ts';

const program = new Command('kantine')
  .description(
    'kantine for IT: program blank-card batches, register them as stock, import a school from the old system',
  )
  .option('--json', 'machine-readable output: one JSON result on stdout, progress as JSON lines on stderr')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .exitOverride();

const output = () => new Output(Boolean(program.opts().json));

const centralOption = () =>
  new Option('--central <url>', "central's address, e.g. https://kantine.kommune.dk")
    .env('KANTINE_CENTRAL')
    .makeOptionMandatory();
const tokenOption = () =>
  new Option('--token <token>', "central's API token (better in the environment than on the command line)").env(
    'KANTINE_CENTRAL_TOKEN',
  );

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 10_000)
      throw new KantineError('invalid_request', `--${name} is a whole number from 1 to 10000`);
    return n;
  };
}

// ── cards ──────────────────────────────────────────────────────────────────────────────────────

const cards = program
  .command('cards')
  .description('blank NTAG 424 DNA card batches: keys, programming, stock, print file');

cards
  .command('new-batch')
  .description("make a new batch's two master keys (keep the file like a password; it is never overwritten)")
  .argument('<batch>', 'batch id, e.g. AARHUS-2026-03 (letters, digits, -)')
  .option('--keys <file>', 'where to write the keys', '<batch>.keys.json')
  .action((batch: string, o: { keys: string }) => {
    const keys = newBatchKeys(batch, randomBytes);
    const file = o.keys.replace('<batch>', batch);
    writeBatchKeys(file, keys);
    output().result(
      { batch, keys: file },
      `Nøgler til parti ${batch} er gemt i ${file}  (keys for batch ${batch} saved)`,
    );
  });

interface ProgramOpts {
  keys: string;
  count: number;
  urlBase: string;
  issuer: string;
  journal?: string;
  print?: string;
  reader?: string;
  office?: string;
  central?: string;
  token?: string;
}

cards
  .command('program')
  .description('program cards one after another as they are laid on the reader; resumes a half-done batch')
  .requiredOption('--keys <file>', 'the batch keys file from `kantine cards new-batch`')
  .requiredOption('--count <n>', 'how many cards the batch has', positiveInt('count'))
  .requiredOption('--url-base <url>', 'the URL a phone opens when it reads a card, e.g. https://kort.kommune.dk/t')
  .requiredOption('--issuer <digits>', 'the four digits that start every card number (the municipality’s)')
  .option('--journal <file>', 'where programmed cards are recorded (default <batch>.journal.jsonl)')
  .option('--print <file>', 'the print file of card numbers (default <batch>.print.csv)')
  .option('--reader <name>', 'use the PC/SC reader whose name contains this (default: the first)')
  .option('--office <site>', 'register the batch as stock at this school or club office when done')
  .addOption(new Option('--central <url>', "central's address (with --office)").env('KANTINE_CENTRAL'))
  .addOption(tokenOption())
  .action(async (o: ProgramOpts) => {
    const out = output();
    const keys = readBatchKeys(o.keys);
    if (o.office && !o.central)
      throw new KantineError('invalid_request', '--office needs --central (or KANTINE_CENTRAL)');
    try {
      new URL(o.urlBase);
    } catch {
      throw new KantineError('invalid_request', `--url-base "${o.urlBase}" is not a URL`);
    }
    if (!/^[0-9]{4}$/.test(o.issuer)) throw new KantineError('invalid_request', '--issuer is four digits');
    const journal = BatchJournal.open(
      o.journal ?? `${keys.batch}.journal.jsonl`,
      { batch: keys.batch, issuer: o.issuer, url_base: o.urlBase },
      new Date(),
    );
    const station: CardStation = await PcscStation.open({ readerName: o.reader });
    let progress: Progress | undefined;
    const stop = () => {
      progress?.stop();
      station.close();
      journal.close();
      out.say(
        `Stoppet: ${journal.cards.length} af ${o.count} kort er færdige. Kør samme kommando igen for at fortsætte.`,
        `stopped: ${journal.cards.length} of ${o.count} cards done; run the same command again to go on`,
        { event: 'stopped', done: journal.cards.length, total: o.count },
      );
      process.exit(130);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    out.say(`Kortlæser: ${station.readerName}`, `reader: ${station.readerName}`, {
      event: 'reader',
      name: station.readerName,
    });
    if (journal.cards.length)
      out.say(
        `Fortsætter parti ${keys.batch}: ${journal.cards.length} af ${o.count} kort er færdige.`,
        'resuming the batch',
        {
          event: 'resume',
          done: journal.cards.length,
        },
      );
    progress = out.progress(o.count, journal.cards.length);
    const bar = progress;
    try {
      await programBatch({
        station,
        keys,
        urlBase: o.urlBase,
        journal,
        issuer: o.issuer,
        count: o.count,
        onEvent: (e) => {
          switch (e.type) {
            case 'waiting':
              bar.note(`Læg kort ${e.done + 1} på læseren`, `lay card ${e.done + 1} on the reader`, {
                event: 'waiting',
                ...e,
              });
              break;
            case 'card':
              bar.step(
                e.done,
                `${e.card_number} ${e.outcome === 'programmed' ? 'programmeret' : 'genkendt'} — tag kortet af`,
                `${e.uid} ${e.outcome}, take the card away`,
                { event: 'card', ...e },
              );
              break;
            case 'already_done':
              bar.note(
                `Kortet er allerede i partiet (${e.card_number}) — tag det af`,
                `already in this batch as ${e.card_number}`,
                { event: 'already_done', ...e },
              );
              break;
            case 'rejected':
              bar.note(`Afvist: ${e.message} — læg det til side`, `rejected [${e.code}]`, {
                event: 'rejected',
                ...e,
              });
              break;
            case 'remove':
              break;
          }
        },
      });
    } finally {
      bar.stop();
      station.close();
      journal.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    const printPath = o.print ?? `${keys.batch}.print.csv`;
    writeFileSync(printPath, printFile(keys.batch, journal.cards));
    let stock: { added: number; already: number } | undefined;
    if (o.office && o.central)
      stock = await register(new CentralClient(o.central, o.token), keys, journal.cards, o.office);
    out.result(
      {
        batch: keys.batch,
        cards: journal.cards.length,
        journal: journal.path,
        print_file: printPath,
        stock: stock ?? null,
      },
      [
        `Parti ${keys.batch}: ${journal.cards.length} kort er programmeret og kontrolleret.`,
        `Printfil: ${printPath}`,
        stock
          ? `Registreret som lager på ${o.office}: ${stock.added} nye, ${stock.already} var der i forvejen.`
          : 'Ikke registreret som lager endnu: kør `kantine cards register`.',
      ].join('\n'),
    );
  });

async function register(
  central: CentralClient,
  keys: ReturnType<typeof readBatchKeys>,
  list: readonly JournalCard[],
  office: string,
) {
  await central.request('PUT', `/api/batches/${encodeURIComponent(keys.batch)}`, {
    sdm_master: keys.sdmMaster.toString('hex'),
  });
  return central.request<{ added: number; already: number }>(
    'POST',
    `/api/batches/${encodeURIComponent(keys.batch)}/stock`,
    {
      site: office,
      cards: list.map((c) => ({ uid: c.uid, card_number: c.card_number })),
    },
  );
}

cards
  .command('register')
  .description('register a programmed batch as stock at a school or club office (safe to repeat)')
  .requiredOption('--keys <file>', 'the batch keys file')
  .requiredOption('--office <site>', 'the school or club office the cards go to')
  .option('--journal <file>', 'the batch journal (default <batch>.journal.jsonl)')
  .addOption(centralOption())
  .addOption(tokenOption())
  .action(async (o: { keys: string; office: string; journal?: string; central: string; token?: string }) => {
    const keys = readBatchKeys(o.keys);
    const journal = openJournal(o.journal ?? `${keys.batch}.journal.jsonl`, keys.batch);
    if (journal.cards.length === 0)
      throw new KantineError('invalid_request', `${journal.path} has no programmed cards`);
    const stock = await register(new CentralClient(o.central, o.token), keys, journal.cards, o.office);
    output().result(
      { batch: keys.batch, office: o.office, ...stock },
      `Parti ${keys.batch} på ${o.office}: ${stock.added} nye kort på lager, ${stock.already} var der i forvejen.`,
    );
  });

cards
  .command('print')
  .description("write a batch's print file (card numbers for the card printer) from its journal")
  .requiredOption('--journal <file>', 'the batch journal')
  .option('--out <file>', 'the print file (default <batch>.print.csv)')
  .action((o: { journal: string; out?: string }) => {
    const journal = openJournal(o.journal);
    const path = o.out ?? `${journal.header.batch}.print.csv`;
    writeFileSync(path, printFile(journal.header.batch, journal.cards));
    output().result(
      { batch: journal.header.batch, cards: journal.cards.length, print_file: path },
      `Printfil: ${path} (${journal.cards.length} kort)`,
    );
  });

function openJournal(path: string, batch?: string): BatchJournal {
  let header: { batch?: string; issuer?: string; url_base?: string };
  try {
    header = JSON.parse(readFileSync(path, 'utf8').split('\n', 1)[0] ?? '');
  } catch {
    throw new KantineError('journal_mismatch', `${path} is not a batch journal`);
  }
  if (batch && header.batch !== batch)
    throw new KantineError('journal_mismatch', `${path} is batch ${header.batch}'s journal, not ${batch}'s`);
  return BatchJournal.open(
    path,
    { batch: header.batch ?? '', issuer: header.issuer ?? '', url_base: header.url_base ?? '' },
    new Date(),
  );
}

// ── import ─────────────────────────────────────────────────────────────────────────────────────

program
  .command('import')
  .description(
    "import a school's children from the old system's CSV export: balances, automatic top-ups, limits, old cards",
  )
  .argument('<file>', 'the CSV export')
  .requiredOption('--site <site>', 'the school (or club) the children belong to')
  .option('--dry-run', 'check everything and report what would change; change nothing')
  .addOption(centralOption())
  .addOption(tokenOption())
  .action(async (file: string, o: { site: string; dryRun?: boolean; central: string; token?: string }) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new KantineError('invalid_request', `cannot read ${file}: ${(err as Error).message}`);
    }
    const rows = parseImportCsv(bytes);
    const central = new CentralClient(o.central, o.token);
    const report = await central.request<ImportReport>('POST', `/api/sites/${encodeURIComponent(o.site)}/import`, {
      dry_run: Boolean(o.dryRun),
      rows,
    });
    output().result(
      report,
      [
        report.dry_run ? 'Prøvekørsel: intet er ændret  (dry run: nothing changed)' : 'Importeret  (imported)',
        `  rækker (rows):                 ${report.rows}`,
        `  nye konti (new accounts):      ${report.created}`,
        `  ændrede konti (changed):       ${report.updated}`,
        `  uændrede konti (unchanged):    ${report.unchanged}`,
        `  startsaldo i alt (balances):   ${(report.opening_balance_ore / 100).toFixed(2).replace('.', ',')} kr`,
        `  gamle kort (old cards):        ${report.cards_added}`,
      ].join('\n'),
    );
  });

// ── release ────────────────────────────────────────────────────────────────────────────────────

const release = program.command('release').description('reader releases: a signing key, build and sign, verify');

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KantineError('config_invalid', `cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
}

release
  .command('keygen')
  .description("make the municipality's Ed25519 release key pair (the private key signs; readers get the public one)")
  .option('--out <name>', 'file name stem: <name>.pem (private, 0600) and <name>.pub.pem', 'kantine-release')
  .action((o: { out: string }) => {
    const keys = newReleaseKeys();
    try {
      writeFileSync(`${o.out}.pem`, keys.privatePem, { flag: 'wx', mode: 0o600 });
    } catch {
      throw new KantineError('invalid_request', `${o.out}.pem exists: a release key is never overwritten`);
    }
    writeFileSync(`${o.out}.pub.pem`, keys.publicPem);
    output().result(
      { private_key: `${o.out}.pem`, public_key: `${o.out}.pub.pem` },
      `Privat nøgle: ${o.out}.pem (opbevar den sikkert)\nOffentlig nøgle: ${o.out}.pub.pem (til gateways og læsere)`,
    );
  });

release
  .command('build')
  .description(
    'build a reader release (bundled code, native-dependency manifest, systemd unit, install script) and sign it',
  )
  .requiredOption('--version <semver>', 'the release version, e.g. 1.4.0')
  .requiredOption('--out <dir>', 'a new folder for the release')
  .requiredOption('--sign-key <pem>', 'the private release key from `kantine release keygen`')
  .action(async (o: { version: string; out: string; signKey: string }) => {
    const privatePem = readText(o.signKey, 'release key');
    const manifest = await buildReaderRelease({ outDir: o.out, version: o.version });
    signRelease(o.out, privatePem);
    output().result(
      { version: manifest.version, dir: o.out, files: Object.keys(manifest.files).length, native: manifest.native },
      `Udgivelse ${manifest.version} bygget og signeret i ${o.out}  (release built and signed)`,
    );
  });

release
  .command('verify')
  .description('check a release: its signature against the public release key and every file against the manifest')
  .argument('<dir>', 'the release folder')
  .requiredOption('--public-key <pem>', 'the public release key')
  .action((dir: string, o: { publicKey: string }) => {
    const manifest = verifyRelease(dir, readText(o.publicKey, 'public release key'));
    output().result(
      { valid: true, version: manifest.version },
      `Udgivelse ${manifest.version} er ægte og uændret  (release is genuine and unchanged)`,
    );
  });

// ── run ────────────────────────────────────────────────────────────────────────────────────────

try {
  await program.parseAsync();
  // A closed PC/SC context finishes its cancelled wait on a worker thread (up to a second): the
  // work is done and written (stdout and stderr are synchronous on files and pipes), so leave now.
  process.exit(0);
} catch (err) {
  const e = err as { code?: string; exitCode?: number };
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
    process.exit(0);
  // commander's own refusals (missing option, unknown command) were printed with the help hint
  if (e.code?.startsWith('commander.')) process.exit(2);
  const coded = asKantineError(err);
  output().error(coded);
  process.exit(coded.code === 'internal_error' ? 1 : 2);
}
