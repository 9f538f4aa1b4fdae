/**
 * What the portal's forms read from what a person types: kroner the Danish way, statement periods
 * (Danish or ISO dates, errors by field, never a refusal), money out as `1.234,50 kr.`, and a
 * browser named from its user agent.
 */
import { deviceOf, formatOre, parseKroner, periodOf } from '@kantine/portal';
import test from 'ava';

const NOW = new Date('2026-12-07T10:00:00Z');

test('kroner typed the Danish way become øre; anything else is not an amount', (t) => {
  for (const [typed, ore] of [
    ['50', 5_000],
    ['37,5', 3_750],
    ['37,50', 3_750],
    ['1.234,50', 123_450],
    ['0', 0],
    ['12 kr.', 1_200],
  ] as const)
    t.is(parseKroner(typed), ore, typed);
  for (const typed of ['', 'mange', '-5', '1,234', '12.5', '1.23', '37,505', '100001', '1e3'])
    t.is(parseKroner(typed), undefined, typed);
});

test('money shows as Danish kroner with a thousands point and a decimal comma', (t) => {
  const plain = (ore: number) => formatOre(ore).replace(/\s/g, ' ');
  t.is(plain(123_450), '1.234,50 kr.');
  t.is(plain(-1_000), '-10,00 kr.');
  t.is(plain(0), '0,00 kr.');
  t.throws(() => formatOre(1.5));
});

test('a statement period is this month by default, last month, or two dates; a wrong date is an error on its field', (t) => {
  t.like(periodOf({}, NOW), { choice: 'this_month', from: '2026-12-01', to: '2026-12-07', errors: {} });
  t.like(periodOf({ periode: 'last_month' }, NOW), { choice: 'last_month', from: '2026-11-01', to: '2026-11-30' });
  t.like(periodOf({ periode: 'chosen', fra: '1-2-2025', til: '2025-02-28' }, NOW), {
    choice: 'chosen',
    from: '2025-02-01',
    to: '2025-02-28',
    errors: {},
  });
  t.deepEqual(periodOf({ periode: 'chosen', fra: '31-02-2026', til: '01.03.2026' }, NOW).errors, {
    fra: 'date_invalid',
  });
  t.deepEqual(periodOf({ periode: 'chosen', fra: '05-12-2026', til: '01-12-2026' }, NOW).errors, {
    til: 'period_order',
  });
  t.deepEqual(periodOf({ periode: 'chosen', fra: '01-01-1990', til: '01-01-2026' }, NOW).errors, {
    fra: 'period_too_long',
  });
  // With an error the page still shows a period (this month) beside the fields as typed.
  t.like(periodOf({ periode: 'chosen', fra: 'igår', til: '' }, NOW), {
    from: '2026-12-01',
    to: '2026-12-07',
    typed: { fra: 'igår', til: '' },
  });
});

test('a browser is named by its kind and system, never by its whole user agent', (t) => {
  t.is(
    deviceOf(
      'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36',
    ),
    'Chrome · Android',
  );
  t.is(
    deviceOf('Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605 Version/18.0 Safari/604.1'),
    'Safari · iOS',
  );
  t.is(
    deviceOf('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'),
    'Firefox · Windows',
  );
  t.is(deviceOf('node'), undefined);
  t.is(deviceOf(null), undefined);
});
