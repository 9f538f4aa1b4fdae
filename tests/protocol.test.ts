import { readFileSync } from 'node:fs';
import {
  allReadersTopic,
  codes,
  Decision,
  declineCodes,
  decodePayload,
  type KantineError,
  messageSchemas,
  parseReaderTopic,
  readerTopic,
  siteEventKinds,
  siteEventTopic,
  Tap,
} from '@kantine/protocol';
import test from 'ava';
import { makeTap } from './helpers/site.ts';

test('topics are built and parsed per reader, and ids that could widen a topic are refused', (t) => {
  t.is(readerTopic('skolen', 'r-1', 'tap'), 'kantine/skolen/reader/r-1/tap');
  t.is(allReadersTopic('skolen', 'status'), 'kantine/skolen/reader/+/status');
  t.deepEqual(parseReaderTopic('kantine/skolen/reader/r-1/decision'), {
    site: 'skolen',
    reader: 'r-1',
    kind: 'decision',
  });
  for (const bad of [
    'kantine/skolen/reader/+/tap',
    'kantine/skolen/reader/r-1/tap/x',
    'kantine/skolen/reader/r-1/pay',
    '#',
  ]) {
    t.is(parseReaderTopic(bad), null, bad);
  }
  t.throws(() => readerTopic('skolen', '#', 'tap'));
  t.throws(() => readerTopic('skolen', 'a/b', 'tap'));
});

test('a valid tap decodes; every failure is a coded KantineError', (t) => {
  const tap = makeTap('r-1', '04A1B2C3D4E5F6');
  t.deepEqual(decodePayload(Tap, JSON.stringify(tap)), tap);
  const code = (payload: string) => (t.throws(() => decodePayload(Tap, payload)) as KantineError).code;
  t.is(code('{'), 'malformed_json');
  t.is(code(JSON.stringify({ ...tap, v: 7 })), 'unsupported_version');
  t.is(code(JSON.stringify({ ...tap, read_at: 'yesterday' })), 'invalid_payload');
  t.is(code(JSON.stringify({ ...tap, card: { kind: 'legacy', uid: '04a1b2c3d4e5f6' } })), 'invalid_payload');
});

test('a decision with a code outside the catalogue is refused', (t) => {
  const d = {
    v: 1,
    tap_id: makeTap('r', '04A1B2C3').tap_id,
    reader_id: 'r',
    outcome: 'declined',
    decided_at: new Date().toISOString(),
  };
  t.notThrows(() => decodePayload(Decision, JSON.stringify({ ...d, code: 'card_blocked' })));
  t.throws(() => decodePayload(Decision, JSON.stringify({ ...d, code: 'because' })));
});

test('every code has Danish and English text, and every decline tells staff what to do', (t) => {
  for (const [code, info] of Object.entries(codes)) {
    t.true(info.da.length > 0 && info.en.length > 0, code);
    if (info.kind === 'decline') t.true(Boolean((info as { action_da?: string }).action_da), code);
  }
  t.true(declineCodes.includes('insufficient_funds'));
});

test('the committed JSON Schema files match the TypeBox schemas (run npm run schemas)', (t) => {
  for (const [name, schema] of Object.entries(messageSchemas)) {
    const file = JSON.parse(readFileSync(new URL(`../protocol/schemas/${name}.json`, import.meta.url), 'utf8'));
    const { $schema, $id, ...rest } = file;
    const { $id: _ignored, ...expected } = JSON.parse(JSON.stringify(schema));
    t.deepEqual(rest, expected, name);
    t.is($id, `kantine:${name}`);
    t.is($schema, 'https://json-schema.org/draft/2020-12/schema');
  }
});

test('docs/protocol.md has a heading for every reader topic', (t) => {
  const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
  for (const kind of ['tap', 'cancel', 'status', 'decision', 'config', 'error']) {
    t.regex(doc, new RegExp(`^### \`kantine/\\{site\\}/reader/\\{reader\\}/${kind}\``, 'm'), kind);
  }
});

test('docs/integrations.md has a heading for every site event topic, as siteEventTopic builds it', (t) => {
  const doc = readFileSync(new URL('../docs/integrations.md', import.meta.url), 'utf8');
  for (const kind of siteEventKinds) {
    const topic = kind === 'reader' ? siteEventTopic('s', kind, 'r') : siteEventTopic('s', kind);
    const documented = topic.replace('kantine/s/', 'kantine/{site}/').replace(/reader\/r$/, 'reader/{reader}');
    t.true(doc.includes(`### \`${documented}\``), documented);
  }
  t.throws(() => siteEventTopic('s', 'reader', '#'));
  t.throws(() => siteEventTopic('a/b', 'tap'));
});
