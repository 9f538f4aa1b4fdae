/**
 * The statement's words, one wording for the gateway and central (protocol/src/statement.ts):
 * the gateway's statement printed a pay-out and a fee from central as "Indsat" (a deposit); now
 * each kind has its own word, as the seeds' portal pattern goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStatementLine, Ledger } from '@kantine/gateway';
import { STATEMENT_WORDS, statementAmount, statementDate, statementNumber, statementText } from '@kantine/protocol';
import test from 'ava';

test('the gateway prints a pay-out, a fee and a void from central in their own words, never as "Indsat"', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kantine-statement-'));
  const ledger = new Ledger(join(dir, 'l.db'), { now: () => new Date('2015-08-18T16:24:00Z') });
  t.teardown(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  ledger.accounts.putAccount({ id: 'ida', first_name: 'Ida' });
  const entry = (
    id: string,
    kind: 'deposit' | 'withdrawal' | 'fee',
    amount_ore: number,
    minute: number,
    reason?: string,
  ) =>
    ledger.entries.bookCentralEntry({
      id,
      account_id: 'ida',
      kind,
      amount_ore,
      origin: 'central',
      created_at: `2015-08-18T16:${String(minute).padStart(2, '0')}:00.000Z`,
      ...(reason ? { reason } : {}),
    });
  entry('d1', 'deposit', 14_950, 20);
  entry('w1', 'withdrawal', -5_000, 21);
  entry('w2', 'withdrawal', -1_000, 22, 'Til opsparing');
  entry('f1', 'fee', -1_000, 23, 'Nyt kort');
  const lines = ledger.reports.statement('ida', '2015-08-18', '2015-08-18');
  t.deepEqual(
    lines.map((l) => [l.kind, l.text]),
    [
      ['fee', 'Gebyr: Nyt kort'],
      ['withdrawal', 'Udbetalt: Til opsparing'],
      ['withdrawal', 'Udbetalt'],
      ['deposit', 'Indsat'],
    ],
  );
  t.deepEqual(lines.map(formatStatementLine), [
    '18-08-2015 18:23\tGebyr: Nyt kort\tkr.-10,00\tkr.79,50',
    '18-08-2015 18:22\tUdbetalt: Til opsparing\tkr.-10,00\tkr.89,50',
    '18-08-2015 18:21\tUdbetalt\tkr.-50,00\tkr.99,50',
    '18-08-2015 18:20\tIndsat\tkr.149,50\tkr.149,50',
  ]);
});

test('the statement’s words and amounts are the seeds’ (one set, shared by the gateway and central)', (t) => {
  t.is(
    statementText('purchase', null, [
      { quantity: 1, name: 'Ostehøps', unit_price_ore: 300 },
      { quantity: 1, name: 'Yoghurt', unit_price_ore: 600 },
      { quantity: 1, name: 'Stor Grovbolle', unit_price_ore: 500 },
    ]),
    'Hævet 1x Ostehøps 3.00 1x Yoghurt 6.00 1x Stor Grovbolle 5.00',
  );
  t.is(statementText('deposit', null, []), 'Indsat');
  t.is(statementText('void', 'Forkert vare', []), 'Annulleret: Forkert vare');
  t.is(statementText('void', '  ', []), 'Annulleret');
  t.is(statementAmount(-1_400), 'kr.-14,00');
  t.is(statementAmount(13_550), 'kr.135,50');
  t.is(statementAmount(5), 'kr.0,05');
  t.is(statementNumber(-1_400), '-14,00');
  t.is(statementNumber(123_456_789), '1234567,89');
  t.is(statementDate('2015-08-18T16:24:00Z'), '18-08-2015 18:24');
  t.is(statementDate('2015-12-18T16:24:00Z'), '18-12-2015 17:24', 'winter time');
  // Every kind has its own Danish word, and English beside it.
  const words = Object.values(STATEMENT_WORDS).map((w) => w.da);
  t.is(new Set(words).size, words.length);
  for (const w of Object.values(STATEMENT_WORDS)) t.truthy(w.en);
});
