import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Ntag424 } from '../ntag424.ts';
import { personalizeCard } from '../personalize.ts';
import { LegacyUidCard } from './legacy-card.ts';
import { Ntag424Card, type Ntag424State } from './ntag424-card.ts';
import { type VirtualCard, VPCD_PORT, VpcdLink } from './vpcd-link.ts';

type Saved = { kind: 'ntag424'; state: Ntag424State } | { kind: 'legacy'; uid: string };

const HELP = `commands:
  new NAME [UID]                      a factory-fresh NTAG 424 DNA (random UID unless given)
  legacy NAME UID                     a UID-only card
  program NAME BATCH APPKEY SDMKEY [URL]   make NAME a kantine card of a batch (keys: 32 hex digits)
  insert NAME | remove | tap NAME [MS]   lay a card on the reader, take it away, or both
                                      (held 700 ms, or MS: 100 to 10000)
  list | help | quit`;

/**
 * \`kantine-card twin\`: card twins a person can lay on a vpcd reader slot by hand. The cards
 * (keys, files, read counters) are kept in a JSON file between runs, as a real card keeps them.
 */
export async function twinShell(opts: { state: string; slot: number; host: string }): Promise<void> {
  const cards = new Map<string, VirtualCard>();
  if (existsSync(opts.state)) {
    const saved = JSON.parse(readFileSync(opts.state, 'utf8')) as Record<string, Saved>;
    for (const [name, s] of Object.entries(saved)) {
      cards.set(name, s.kind === 'legacy' ? new LegacyUidCard(s.uid) : Ntag424Card.fromJSON(s.state));
    }
  }
  const save = () => {
    const out: Record<string, Saved> = {};
    for (const [name, c] of cards) {
      out[name] =
        c instanceof Ntag424Card
          ? { kind: 'ntag424', state: c.toJSON() }
          : { kind: 'legacy', uid: c.uid.toString('hex').toUpperCase() };
    }
    writeFileSync(`${opts.state}.tmp`, JSON.stringify(out, null, 2));
    renameSync(`${opts.state}.tmp`, opts.state);
  };
  let link: VpcdLink | undefined;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const card = (name: string | undefined) => {
    const c = name ? cards.get(name) : undefined;
    if (!c) throw new Error(`no card ${name ?? ''} (see list)`);
    return c;
  };
  const remove = () => {
    link?.remove();
    link = undefined;
    save();
  };
  const insert = async (name: string | undefined) => {
    remove();
    link = new VpcdLink(card(name), VPCD_PORT + opts.slot, opts.host);
    await link.insert();
  };

  say(`card twins on vpcd slot ${opts.slot} (${opts.host}:${VPCD_PORT + opts.slot}); cards kept in ${opts.state}`);
  say(HELP);
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'twin> ' });
  rl.prompt();
  for await (const line of rl) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'new': {
          const uid = (args[1] ?? `04${randomBytes(6).toString('hex')}`).toUpperCase();
          cards.set(args[0] ?? uid, new Ntag424Card(uid));
          save();
          say(`${args[0] ?? uid}: NTAG 424 DNA ${uid}, factory keys`);
          break;
        }
        case 'legacy':
          cards.set(args[0] ?? '', new LegacyUidCard((args[1] ?? '').toUpperCase()));
          save();
          break;
        case 'program': {
          const [name, batch, app, sdm, url] = args;
          const twin = card(name);
          if (!(twin instanceof Ntag424Card)) throw new Error(`${name} is not an NTAG 424 DNA`);
          const key = (hex: string | undefined) => {
            if (!hex || !/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error('a key is 32 hex digits');
            return Buffer.from(hex, 'hex');
          };
          twin.reset();
          const result = await personalizeCard(new Ntag424(async (apdu) => twin.transmit(apdu)), {
            batch: batch ?? '',
            keys: { appMaster: key(app), sdmMaster: key(sdm) },
            urlBase: url ?? 'https://kort.kantine.example/t',
          });
          save();
          say(`${name}: ${result.outcome} (${result.uid})`);
          break;
        }
        case 'insert':
          await insert(args[0]);
          say(`${args[0]} lies on the reader`);
          break;
        case 'remove':
          remove();
          break;
        case 'tap': {
          const hold = args[1] === undefined ? 700 : Number(args[1]);
          if (!Number.isInteger(hold) || hold < 100 || hold > 10_000) {
            say('error: a tap is held 100 to 10000 ms');
            break;
          }
          await insert(args[0]);
          await new Promise((r) => setTimeout(r, hold));
          remove();
          say(`${args[0]} tapped`);
          break;
        }
        case 'list':
          for (const [name, c] of cards) {
            const kind = c instanceof Ntag424Card ? `NTAG 424 DNA, read counter ${c.readCounter}` : 'UID-only';
            say(`  ${name}  ${c.uid.toString('hex').toUpperCase()}  ${kind}`);
          }
          break;
        case 'quit':
        case 'exit':
          remove();
          rl.close();
          return;
        case undefined:
        case '':
          break;
        default:
          say(HELP);
      }
    } catch (err) {
      say(`error: ${(err as Error).message}`);
    }
    rl.prompt();
  }
  remove();
}
