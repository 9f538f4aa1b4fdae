import { readFileSync } from 'node:fs';
import type { Static, TSchema } from 'typebox';
import { KantineError } from './codes.ts';
import { withDefaults } from './validate.ts';

/**
 * Reads a JSON config file, fills the schema's defaults and checks it. Every failure — missing
 * file, bad JSON, a bad field — is `config_invalid`, with `path message` details for fields.
 * (A subpath of its own, `@kantine/protocol/config-file`: it needs node:fs, the rest does not.)
 */
export function loadConfigFile<T extends TSchema>(schema: T, path: string, what: string): Static<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KantineError('config_invalid', `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KantineError('config_invalid', `${what} ${path} is not JSON: ${(err as Error).message}`);
  }
  return withDefaults(schema, value);
}
