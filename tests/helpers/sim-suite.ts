import { openPglite } from '@kantine/central';
import test from 'ava';
import { SIM_STEPS, Simulation, seedsFor } from './sim.ts';

/**
 * Registers one test file's share of the simulation's seeds. A failing seed names itself; run
 * `SIM_SEED=<n> npx ava tests/replication-sim-1.test.ts` to replay exactly that run.
 */
export function simulationSuite(file: number): void {
  const seeds = seedsFor(file);
  test(`keeps money conserved, balances and limits whole, and every sale once at central under faults (seeds ${seeds[0] ?? '-'}–${seeds.at(-1) ?? '-'})`, async (t) => {
    t.timeout(900_000);
    if (seeds.length === 0) {
      t.pass('this file has no seeds in this run');
      return;
    }
    const db = await openPglite();
    t.teardown(() => db.close());
    const outcomes: Record<string, number> = {};
    for (const seed of seeds) {
      const sim = new Simulation({ seed, steps: SIM_STEPS, db });
      try {
        await sim.run();
      } catch (err) {
        t.log(sim.log.join('\n'));
        throw new Error(`simulation seed ${seed} failed (replay: SIM_SEED=${seed}): ${(err as Error).message}`);
      }
      for (const [k, v] of Object.entries(sim.stats())) outcomes[k] = (outcomes[k] ?? 0) + v;
    }
    t.log(`${seeds.length} seeds; decisions: ${JSON.stringify(outcomes)}`);
    // The runs must exercise what they claim: sales approved, and declines for want of a share offline.
    t.true((outcomes.approved ?? 0) > 0);
    if (seeds.length >= 50) t.true((outcomes.share_exhausted_offline ?? 0) > 0);
    // …and top-ups paid by card whose webhooks were lost and duplicated (topup).
    if (seeds.length >= 50) {
      t.true((outcomes.topups_paid ?? 0) > 0);
      t.true((outcomes.webhooks_lost ?? 0) > 0 && (outcomes.webhooks_duplicated ?? 0) > 0);
    }
  });
}
