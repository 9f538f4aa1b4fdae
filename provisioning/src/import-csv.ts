import {
  CARD_UID_PATTERN,
  CPR_PATTERN,
  ID_PATTERN,
  type ImportRow,
  ImportRow as ImportRowSchema,
  KantineError,
  schemaErrors,
} from '@kantine/protocol';
import { parse } from 'csv-parse/sync';

/**
 * The old system's export, one child per line (docs/operations/it-guide.md shows an example).
 * Column names are matched without regard to case, spaces or æ/ø/å; `;` or `,` separates
 * (whichever the header uses); UTF-8 or Windows-1252. Amounts are kroner as the old system
 * prints them: `135,50`, `1.234,50`, `135.50` or `135`.
 */
export const COLUMNS = {
  elevnummer: 'the old system’s id of the child (required; becomes account elev-<id>)',
  fornavn: 'first name (required)',
  efternavn: 'last name',
  cpr: 'CPR number, DDMMYY-XXXX (kept at central only)',
  saldo: 'balance in kroner (required; 0 if none)',
  automatisk_optankning: 'automatic top-up amount in kroner (empty: no agreement)',
  maks_dag: 'spending limit per day in kroner (empty: none)',
  maks_uge: 'spending limit per week in kroner',
  maks_maaned: 'spending limit per month in kroner',
  kort_uid: 'the UID of the child’s old card, hex (empty: no card)',
} as const;
type Column = keyof typeof COLUMNS;
const REQUIRED: readonly Column[] = ['elevnummer', 'fornavn', 'saldo'];

function columnName(header: string): string {
  return header
    .trim()
    .toLowerCase()
    .replace(/æ/g, 'ae')
    .replace(/ø/g, 'oe')
    .replace(/å/g, 'aa')
    .replace(/[\s-]+/g, '_');
}

/** Kroner as text → øre; undefined when empty; a string saying what is wrong otherwise. */
export function parseKroner(text: string): number | undefined | { problem: string } {
  const s = text.replace(/\s|kr\.?$/gi, '');
  if (s === '') return undefined;
  let normal: string | undefined;
  if (/^-?\d{1,3}(\.\d{3})+(,\d{1,2})?$/.test(s)) normal = s.replace(/\./g, '').replace(',', '.');
  else if (/^-?\d+([.,]\d{1,2})?$/.test(s)) normal = s.replace(',', '.');
  if (normal === undefined) return { problem: `"${text}" is not an amount in kroner (e.g. 135,50)` };
  const [whole, frac = ''] = normal.replace('-', '').split('.');
  const ore = Number(whole) * 100 + Number(frac.padEnd(2, '0'));
  return normal.startsWith('-') ? -ore : ore;
}

function decode(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8: older Danish Windows programs write Windows-1252 (æ, ø, å as single bytes).
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/**
 * Parses and checks every line. Returns the rows, or throws `import_invalid` listing every bad
 * line with its number and reason (nothing is sent to central then).
 */
export function parseImportCsv(bytes: Buffer): ImportRow[] {
  const text = decode(bytes);
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  const delimiter = firstLine.includes(';') ? ';' : ',';
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      delimiter,
      columns: (header: string[]) => header.map(columnName),
      skip_empty_lines: true,
      trim: true,
      info: true,
    });
  } catch (err) {
    const e = err as { message: string; lines?: number };
    throw new KantineError('import_invalid', 'the file is not readable CSV', [
      `line ${e.lines ?? '?'}: ${e.message.replace(/^Invalid Record Length: /, '')}`,
    ]);
  }
  const header = (parse(firstLine, { bom: true, delimiter })[0] as string[] | undefined)?.map(columnName) ?? [];
  const unknown = header.filter((h) => !(h in COLUMNS));
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (unknown.length || missing.length) {
    throw new KantineError('import_invalid', 'the header line does not have the expected columns', [
      ...missing.map((c) => `line 1: column ${c} is missing (${COLUMNS[c]})`),
      ...unknown.map((c) => `line 1: column ${c} is not known (columns: ${Object.keys(COLUMNS).join(', ')})`),
    ]);
  }
  if (records.length === 0) throw new KantineError('import_invalid', 'the file has no rows', ['line 2: no rows']);

  const rows: ImportRow[] = [];
  const problems: string[] = [];
  for (const { record, info } of records) {
    const line = info.lines;
    const bad: string[] = [];
    const get = (c: Column) => record[c] ?? '';
    const amount = (c: Column, opts: { required?: boolean; min: number }): number | undefined => {
      const v = parseKroner(get(c));
      if (typeof v === 'object') bad.push(`${c}: ${v.problem}`);
      else if (v === undefined && opts.required) bad.push(`${c} is empty`);
      else if (v !== undefined && v < opts.min) bad.push(`${c} ${get(c)} must be at least ${opts.min / 100} kr`);
      else return v;
      return undefined;
    };
    const id = `elev-${get('elevnummer').toLowerCase()}`;
    if (!get('elevnummer')) bad.push('elevnummer is empty');
    else if (!new RegExp(ID_PATTERN).test(id))
      bad.push(`elevnummer "${get('elevnummer')}" may hold only letters, digits and -`);
    if (!get('fornavn')) bad.push('fornavn is empty');
    const balance = amount('saldo', { required: true, min: 0 });
    const topup = amount('automatisk_optankning', { min: 100 });
    const limits: ImportRow['limits'] = [];
    for (const [c, period] of [
      ['maks_dag', 'day'],
      ['maks_uge', 'week'],
      ['maks_maaned', 'month'],
    ] as const) {
      const v = amount(c, { min: 100 });
      // The old system had one limit for every place; kantine keeps one per kind of place.
      if (v !== undefined)
        for (const place_kind of ['school', 'club'] as const) limits.push({ place_kind, period, limit_ore: v });
    }
    const uid = get('kort_uid').replace(/[\s:]/g, '').toUpperCase();
    if (uid && !new RegExp(CARD_UID_PATTERN).test(uid))
      bad.push(`kort_uid "${get('kort_uid')}" is not a card UID (4, 7 or 10 bytes in hex)`);
    const cpr = get('cpr');
    if (cpr && !new RegExp(CPR_PATTERN).test(cpr)) bad.push(`cpr "${cpr}" is not DDMMYY-XXXX`);
    const row: ImportRow = {
      line,
      account_id: id,
      first_name: get('fornavn'),
      last_name: get('efternavn'),
      cpr: cpr || null,
      balance_ore: balance ?? 0,
      auto_topup_ore: topup ?? null,
      limits,
      legacy_uid: uid || null,
    };
    if (bad.length === 0) bad.push(...schemaErrors(ImportRowSchema, row));
    if (bad.length) problems.push(`line ${line}: ${bad.join('; ')}`);
    else rows.push(row);
  }
  if (problems.length)
    throw new KantineError('import_invalid', `${problems.length} of ${records.length} rows are wrong`, problems);
  return rows;
}
