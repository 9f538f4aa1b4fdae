import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { KantineError } from './codes.ts';
import { ID_PATTERN } from './ids.ts';

/**
 * Reader enrolment: IT makes a one-time token on the gateway for a till; a new reader uses it on
 * first boot to get its identity, the site's CA and the broker's address.
 *
 * The token is `<id>.<key>`. Only its id crosses the network: the request and the answer are each
 * authenticated with HMAC-SHA256 under the key, so someone on the school's network can neither
 * enrol a reader of their own with a token they overheard, nor hand the reader a CA of their own.
 * The reader makes its own secret and sends only its scrypt hash: the secret never leaves it.
 */
export const ENROL_TOKEN_PATTERN = '^[A-Za-z0-9_-]{10}\\.[A-Za-z0-9_-]{22}$';
/** The one hash format readers may send (the gateway's own parameters: no costlier ones). */
export const SECRET_HASH_PATTERN = '^scrypt\\$16384\\$8\\$1\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$';

export function newEnrolToken(): { id: string; key: string; token: string } {
  const id = randomBytes(8).toString('base64url').slice(0, 10);
  const key = randomBytes(16).toString('base64url');
  return { id, key, token: `${id}.${key}` };
}

export function parseEnrolToken(token: string): { id: string; key: string } {
  if (!new RegExp(ENROL_TOKEN_PATTERN).test(token)) {
    throw new KantineError(
      'invalid_request',
      'an enrolment token is <10 characters>.<22 characters>, as the gateway printed it',
    );
  }
  const [id, key] = token.split('.') as [string, string];
  return { id, key };
}

export const EnrolRequest = Type.Object(
  {
    v: Type.Literal(1),
    token_id: Type.String({ pattern: '^[A-Za-z0-9_-]{10}$' }),
    /** The reader's wish for its id (its host name); the token may fix another. */
    reader_id: Type.Optional(Type.String({ pattern: ID_PATTERN })),
    secret_hash: Type.String({ pattern: SECRET_HASH_PATTERN }),
    mac: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false, $id: 'EnrolRequest', title: 'EnrolRequest' },
);
export type EnrolRequest = Static<typeof EnrolRequest>;

export const EnrolResponse = Type.Object(
  {
    v: Type.Literal(1),
    reader_id: Type.String({ pattern: ID_PATTERN }),
    site: Type.String({ pattern: ID_PATTERN }),
    till_id: Type.String({ pattern: ID_PATTERN }),
    /** Where the reader connects, e.g. mqtts://gateway.skole.local:8883. */
    broker_url: Type.String({ pattern: '^mqtts?://' }),
    /** The site CA (PEM) the broker's certificate is signed by; absent when the broker has no TLS. */
    ca_pem: Type.Optional(Type.String({ maxLength: 20_000 })),
    mac: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false, $id: 'EnrolResponse', title: 'EnrolResponse' },
);
export type EnrolResponse = Static<typeof EnrolResponse>;

function hmac(key: string, parts: readonly string[]): string {
  return createHmac('sha256', Buffer.from(key, 'base64url')).update(parts.join('\n')).digest('hex');
}

export function enrolRequestMac(key: string, r: Omit<EnrolRequest, 'mac' | 'v'>): string {
  return hmac(key, ['kantine-enrol-request', r.token_id, r.reader_id ?? '', r.secret_hash]);
}

export function enrolResponseMac(key: string, tokenId: string, r: Omit<EnrolResponse, 'mac' | 'v'>): string {
  return hmac(key, ['kantine-enrol-response', tokenId, r.reader_id, r.site, r.till_id, r.broker_url, r.ca_pem ?? '']);
}

export function macMatches(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length === 32 && timingSafeEqual(x, y);
}
