/**
 * The link's benchmarks run and print what the issue asks of them (their figures are read by
 * people, never asserted: tests do not assert times). Small runs, to keep them from rotting.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoRoot } from '@kantine/gateway';
import test from 'ava';
import { PG_URL } from './helpers/postgres.ts';

const run = promisify(execFile);

async function bench(script: string, args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run(process.execPath, ['--import=tsx', script, ...args, '--json'], {
    cwd: repoRoot,
    env: { ...process.env, KANTINE_BENCH_PG: PG_URL },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, number>;
}

test('bench:propagation prints gateways, p50_ms and p99_ms beside its baseline', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/propagation.ts', ['--gateways', '3', '--samples', '6']);
  t.is(r.gateways, 3);
  t.is(r.samples, 6);
  for (const k of ['p50_ms', 'p99_ms', 'baseline_p50_ms', 'baseline_p99_ms']) t.true(Number.isFinite(r[k]), k);
});

test('bench:central prints entries_per_s beside baseline_per_s, having booked every entry', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/central.ts', ['--sites', '2', '--accounts', '5', '--entries', '800']);
  t.is(r.entries, 800);
  t.true((r.entries_per_s ?? 0) > 0);
  t.true((r.baseline_per_s ?? 0) > 0);
});
