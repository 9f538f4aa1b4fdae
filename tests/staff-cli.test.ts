import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, verifySecret } from '@kantine/gateway';
import test from 'ava';
import { repoRoot } from './helpers/process.ts';

function gatewayCli(args: string[], stdin = '') {
  const r = spawnSync(process.execPath, ['--import=tsx', 'gateway/src/main.ts', ...args], {
    cwd: repoRoot,
    input: stdin,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('IT adds, lists and removes staff with kantine-gateway staff; the PIN is stored hashed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-staff-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'gateway.json');
  writeFileSync(config, JSON.stringify({ site: { id: 'skolen', name: 'Skolen' }, database: join(dir, 'g.db') }));

  const added = gatewayCli(['staff', 'add', '--config', config, 'maria', 'Maria', 'Holm'], '4321\n');
  t.is(added.status, 0, added.stderr);
  t.regex(added.stdout, /maria\tMaria Holm\tPIN set/);
  t.regex(gatewayCli(['staff', 'list', '--config', config]).stdout, /^maria\tMaria Holm$/m);

  const badPin = gatewayCli(['staff', 'add', '--config', config, 'bo', 'Bo'], '12\n');
  t.is(badPin.status, 1);
  t.regex(badPin.stderr, /invalid_request/);
  const badId = gatewayCli(['staff', 'add', '--config', config, 'Bo Bo', 'Bo'], '1234\n');
  t.is(badId.status, 1);
  t.regex(badId.stderr, /invalid_request/);

  const ledger = new Ledger(join(dir, 'g.db'), { now: () => new Date() });
  const stored = ledger.staff.getStaff('maria');
  ledger.close();
  t.truthy(stored);
  t.notRegex(stored?.pin_hash ?? '', /4321/);
  t.true(await verifySecret('4321', stored?.pin_hash ?? ''));

  t.is(gatewayCli(['staff', 'remove', '--config', config, 'maria']).status, 0);
  t.is(gatewayCli(['staff', 'list', '--config', config]).stdout, '');
  const gone = gatewayCli(['staff', 'remove', '--config', config, 'maria']);
  t.is(gone.status, 0, 'removing again is harmless: the row stays, inactive');
});
