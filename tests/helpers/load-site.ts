import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '@kantine/gateway';
import { hashSecret } from '@kantine/protocol/credentials';
import { freePort } from './process.ts';

/**
 * A site made for load: one till per reader, each with a standing basket (so every tap is a
 * sale) and one child with money on it. For the crash test and the benchmarks, which run the
 * real gateway process against it.
 */
export interface LoadSite {
  dir: string;
  database: string;
  configPath: string;
  /** The embedded broker's port. */
  port: number;
  readerId(i: number): string;
  accountId(i: number): string;
  cardUid(i: number): string;
  /** Every reader's secret (one for all: this is a test site). */
  secret: string;
}

export async function makeLoadSite(options: {
  site: string;
  readers: number;
  price_ore: number;
  balance_ore: number;
  config?: Record<string, unknown>;
  /** Linked to central: the children, their cards and money come from there, not from here. */
  linked?: boolean;
}): Promise<LoadSite> {
  const dir = mkdtempSync(join(tmpdir(), `kantine-${options.site}-`));
  const database = join(dir, 'gateway.db');
  const port = await freePort();
  const configPath = join(dir, 'gateway.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      site: { id: options.site, name: options.site },
      database,
      // Plain MQTT: the benchmark measures the tap path; TLS would add its own cost to both sides.
      mqtt: { mode: 'embedded', host: '127.0.0.1', port, tls: 'off' },
      http: { host: '127.0.0.1', port: 0 },
      ...options.config,
    }),
  );
  const site: LoadSite = {
    dir,
    database,
    configPath,
    port,
    readerId: (i) => `reader-${i}`,
    accountId: (i) => `acc-${i}`,
    cardUid: (i) => `04${i.toString(16).toUpperCase().padStart(12, '0')}`,
    secret: 'load-site-reader-secret-0123456789',
  };
  const ledger = new Ledger(database, { now: () => new Date() });
  try {
    const hash = await hashSecret(site.secret);
    ledger.catalogue.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
    ledger.catalogue.upsertProduct({
      id: 'frugt',
      place_id: 'kantinen',
      name: 'Frugt',
      category: 'mad',
      price_ore: options.price_ore,
    });
    for (let i = 0; i < options.readers; i++) {
      ledger.catalogue.upsertTill({ id: `till-${i}`, place_id: 'kantinen', name: `Kasse ${i}` });
      ledger.readers.upsertReader({ id: site.readerId(i), till_id: `till-${i}`, secret_hash: hash });
      ledger.baskets.setBasket(`till-${i}`, [{ product_id: 'frugt', quantity: 1 }], true);
      if (options.linked) continue;
      ledger.accounts.putAccount({ id: site.accountId(i), first_name: `Barn ${i}` });
      ledger.entries.deposit({ account_id: site.accountId(i), amount_ore: options.balance_ore });
      ledger.accounts.putCard({ uid: site.cardUid(i), account_id: site.accountId(i), state: 'active' });
    }
  } finally {
    ledger.close();
  }
  return site;
}
