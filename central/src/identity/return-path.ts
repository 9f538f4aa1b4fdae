import { KantineError } from '@kantine/protocol';

// Long enough for any page of the portal with its query; a longer one is an attack or a mistake.
const RETURN_PATH_MAX = 500;

// An absolute path of this origin: `/` then URL characters (RFC 3986 pchar, `/`, `?`, `#`, `%`).
// No backslash (browsers read `/\evil` as `//evil`), no whitespace or control characters (browsers
// drop tabs and newlines, so `/\t/evil` would become `//evil`), nothing beyond ASCII.
const PATH_CHARS = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?#%]*$/;

const PROBE_ORIGIN = 'https://kantine.invalid';

/**
 * Where a person is sent after sign-in: a path on central's own origin, never elsewhere (an open
 * redirect would let a phishing link start at the municipality's real sign-in). Absent → `/`.
 * Anything else — `//evil.example`, `https://evil.example`, `/\evil`, `javascript:` — is
 * refused with `return_path_refused` rather than quietly changed, so a broken link shows.
 */
export function safeReturnPath(value: unknown): string {
  if (value === undefined || value === '') return '/';
  const refuse = (why: string) => new KantineError('return_path_refused', `return: ${why}`, [`/return ${why}`]);
  if (typeof value !== 'string') throw refuse('must be one path');
  if (value.length > RETURN_PATH_MAX) throw refuse(`longer than ${RETURN_PATH_MAX} characters`);
  if (!PATH_CHARS.test(value)) throw refuse('must be a path on this site (starting with one /)');
  if (value.startsWith('//')) throw refuse('must be a path on this site, not another site (//)');
  // The browser's own reading must agree: the path resolves to this origin.
  const resolved = new URL(value, PROBE_ORIGIN);
  if (resolved.origin !== PROBE_ORIGIN) throw refuse('must stay on this site');
  return value;
}
