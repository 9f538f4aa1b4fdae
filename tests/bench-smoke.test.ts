/**
 * The link's benchmarks run and print what the issue asks of them (their figures are read by
 * people, never asserted: tests do not assert times). Small runs, to keep them from rotting.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { PG_URL } from './helpers/postgres.ts';
import { repoRoot } from './helpers/process.ts';

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

test('bench:propagation --ledger-dir keeps the sites’ ledgers there, and --procs spreads the sites', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/propagation.ts', [
    '--gateways',
    '4',
    '--samples',
    '2',
    '--procs',
    '3',
    '--ledger-dir',
    '/dev/shm',
    '--warmup',
    '1',
    '--settle',
  ]);
  t.is(r.gateways, 4);
  t.is(r.procs, 3);
  t.is(r.ledgers as unknown, '/dev/shm');
  t.is(r.settle as unknown, true);
  t.is((r.warmup_ms as unknown as number[]).length, 1, 'the warm-up change, reported apart');
  t.is((r.changes_ms as unknown as number[]).length, 2, 'each timed change, in order');
  t.is((r.changes_api_ms as unknown as number[]).length, 2);
  for (const k of [
    'p50_ms',
    'p99_ms',
    'api_p50_ms',
    'first_site_p50_ms',
    'baseline_p99_ms',
    'resent_silence',
    'resent_hello',
  ])
    t.true(Number.isFinite(r[k]), k);
});

test('bench:central prints entries_per_s beside baseline_per_s, having booked every entry', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/central.ts', ['--sites', '2', '--accounts', '5', '--entries', '800']);
  t.is(r.entries, 800);
  t.true((r.entries_per_s ?? 0) > 0);
  t.true((r.baseline_per_s ?? 0) > 0);
});

test('bench:central --workers 2 prints entries_per_s for one worker process and for two, on Mosquitto', async (t) => {
  t.timeout(150_000);
  const r = (await bench('bench/src/central.ts', [
    '--sites',
    '2',
    '--accounts',
    '5',
    '--entries',
    '800',
    '--workers',
    '2',
  ])) as unknown as { workers: { workers: number; entries: number; entries_per_s: number }[] };
  t.deepEqual(
    r.workers.map((w) => [w.workers, w.entries]),
    [
      [1, 800],
      [2, 800],
    ],
  );
  for (const w of r.workers) t.true(w.entries_per_s > 0);
});

// — perf (issue 22): the tap path's benchmark modes and the memory figures —

test('bench:taps --rate --sun prints open-loop decisions, echoes and SUN taps with their CPU per operation', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/taps.ts', ['--readers', '2', '--seconds', '1', '--rate', '20', '--sun']);
  t.is(r.rate, 20);
  for (const k of [
    'decision_p50_ms',
    'decision_p99_ms',
    'echo_p50_ms',
    'echo_p99_ms',
    'decision_gateway_cpu_us',
    'echo_gateway_cpu_us',
    'cpu_ratio',
    'sun_decision_p50_ms',
    'sun_decision_p99_ms',
    'sun_decision_gateway_cpu_us',
  ])
    t.true(Number.isFinite(r[k]), k);
  t.true((r.taps_recorded ?? 0) > 0);
  t.is(r.balances_mismatched, 0);
});

test('bench:memory prints the RSS of a gateway on a ledger of the asked size, a reader daemon and a central worker', async (t) => {
  t.timeout(150_000);
  const r = await bench('bench/src/memory.ts', ['--accounts', '50', '--entries', '2000', '--taps', '10']);
  t.is(r.accounts, 50);
  t.is(r.entries, 2000);
  t.is(r.taps_approved, 10);
  for (const k of ['gateway_rss_mib', 'reader_rss_mib', 'central_rss_mib']) t.true((r[k] ?? 0) > 0, k);
});
