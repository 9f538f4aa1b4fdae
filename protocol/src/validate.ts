import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { KantineError } from './codes.ts';

/** A message larger than this is refused unread: no payload of ours comes near it. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

type Validator<T extends TSchema> = ReturnType<typeof Compile<T>>;
const cache = new WeakMap<TSchema, Validator<TSchema>>();

function validatorFor<T extends TSchema>(schema: T): Validator<T> {
  let v = cache.get(schema);
  if (!v) {
    v = Compile(schema);
    cache.set(schema, v);
  }
  return v as Validator<T>;
}

/** `path message` lines, as zigbee2mqtt reports settings errors. At most 20. */
export function schemaErrors(schema: TSchema, value: unknown): string[] {
  return validatorFor(schema)
    .Errors(value)
    .filter((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf')
    .slice(0, 20)
    .map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/** Checks a value against a schema; throws `KantineError(code)` with `path message` details. */
export function check<T extends TSchema>(
  schema: T,
  value: unknown,
  code: 'invalid_payload' | 'invalid_request' | 'config_invalid' = 'invalid_payload',
): Static<T> {
  if (validatorFor(schema).Check(value)) return value as Static<T>;
  const details = schemaErrors(schema, value);
  throw new KantineError(code, `${code}: ${details.join('; ')}`, details);
}

/** Fills schema defaults into a copy of `value`, then checks it. For config files. */
export function withDefaults<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const filled = validatorFor(schema).Default(structuredClone(value));
  return check(schema, filled, 'config_invalid');
}

/**
 * Decodes one MQTT payload: size bound, JSON, version, schema. Every failure is a coded
 * `KantineError`; a payload that passes is exactly the schema's type.
 */
export function decodePayload<T extends TSchema>(
  schema: T,
  payload: Buffer | string,
  maxBytes = MAX_PAYLOAD_BYTES,
): Static<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) {
    throw new KantineError('invalid_payload', `payload is ${size} bytes, the limit is ${maxBytes}`, [
      `/ larger than ${maxBytes} bytes`,
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch (err) {
    throw new KantineError('malformed_json', `payload is not JSON: ${(err as Error).message}`);
  }
  if (typeof value === 'object' && value !== null && 'v' in value && value.v !== 1) {
    throw new KantineError('unsupported_version', `message version ${String(value.v)} is not supported (1 is)`);
  }
  return check(schema, value, 'invalid_payload');
}

/** Reads `tap_id` from an untrusted payload, for error reports only. Never throws. */
export function peekTapId(payload: Buffer | string): string | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString());
    if (typeof value === 'object' && value !== null && 'tap_id' in value && typeof value.tap_id === 'string') {
      return value.tap_id.slice(0, 64);
    }
  } catch {
    // not JSON: no tap id to report
  }
  return undefined;
}
