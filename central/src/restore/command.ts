import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CentralConfig } from '../config.ts';
import { type Db, openPglite, openPostgres } from '../db/db.ts';
import { migrate } from '../db/schema.ts';
import { type RestoreReport, restoreReport } from './report.ts';

/**
 * kantine-central restore-report [--json]
 *
 * What central lost in a restore and cannot get back from the sites, with what to enter again
 * (docs/operations/central.md §Restoring from a backup). Opens the config's database as the
 * token commands do (Postgres: beside running workers; PGlite: with central stopped).
 */
export function restoreReportCommand(program: Command, config: () => CentralConfig): void {
  program
    .command('restore-report')
    .description(
      'after a restore from an older backup: what central made after the backup (deposits, withdrawals, ' +
        'fees, blocks, limits, accounts) that the sites still knew, with what to enter again',
    )
    .option('--json', 'the whole report as one JSON object')
    .action(async (o: { json?: boolean }) => {
      const { database } = config();
      const dir =
        isAbsolute(database.dir) || database.dir.includes('://') ? database.dir : resolve(process.cwd(), database.dir);
      const db: Db = database.url ? await openPostgres(database.url) : await openPglite(dir);
      try {
        await migrate(db);
        const report = await restoreReport(db);
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      } finally {
        await db.close();
      }
    });
}

/** The report as text for an administrator: one line per thing to do. */
export function formatReport(r: RestoreReport): string {
  const out: string[] = [];
  const kr = (ore: number) => (ore / 100).toFixed(2);
  out.push(`Resyncs of sites' links: ${r.resyncs.length}`);
  for (const s of r.resyncs)
    out.push(`  ${s.at}  ${s.site}  ${s.done_at ? `caught up ${s.done_at}` : 'NOT caught up yet'}  (${s.reason})`);
  out.push(`Entries central lost (enter them again with the same id): ${r.entries.length}`);
  for (const e of r.entries)
    out.push(
      `  ${e.created_at}  ${e.kind} ${kr(e.amount_ore)} kr on ${e.account_id} (id ${e.id}, known at ${e.sites.join(', ')})\n    → ${e.action}`,
    );
  out.push(`Cards in another state at a site: ${r.cards.length}`);
  for (const c of r.cards)
    out.push(
      `  ${c.uid} (${c.account_id ?? 'no account'}): ${c.site_state} at ${c.site}, ${c.central_state ?? 'unknown'} at central\n    → ${c.action}`,
    );
  out.push(`Accounts a site held otherwise: ${r.accounts.length}`);
  for (const a of r.accounts)
    out.push(
      `  ${a.account_id} ${a.first_name} ${a.last_name} at ${a.site}: ${a.missing_at_central ? 'missing at central' : a.fields.join(', ')}` +
        (a.site_limits.length
          ? ` (limits there: ${a.site_limits.map((l) => `${l.place_kind} ${l.period} ${kr(l.limit_ore)} kr`).join(', ')})`
          : '') +
        `\n    → ${a.action}`,
    );
  out.push(`Sales and voids central refused since the first resync: ${r.refused.length}`);
  for (const x of r.refused)
    out.push(`  ${x.at}  ${x.site} #${x.seq} ${x.code} ${x.entry_id ?? ''} ${x.account_id ?? ''} (see refused_up)`);
  out.push(`Shares central granted again to book the sites' sales from before their resync: ${r.regranted.length}`);
  for (const g of r.regranted) out.push(`  ${g.site} ${g.budget}: ${kr(g.amount_ore)} kr over ${g.entries} entries`);
  return `${out.join('\n')}\n`;
}
