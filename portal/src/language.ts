import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Dictionary, da } from './dictionary/da.ts';
import { en } from './dictionary/en.ts';

export type Lang = 'da' | 'en';
export const LANGS: readonly Lang[] = ['da', 'en'];

/** The cookie that keeps a browser's language (not a secret: a preference). */
export const LANG_COOKIE = 'kantine_lang';

const dictionaries: Readonly<Record<Lang, Dictionary>> = { da, en };

export function dictionary(lang: Lang): Dictionary {
  return dictionaries[lang];
}

/** The request's language: the browser's choice (the language switch), Danish by default. */
export function languageOf(req: FastifyRequest): Lang {
  return req.cookies?.[LANG_COOKIE] === 'en' ? 'en' : 'da';
}

/**
 * A path on this server to go back to after a sign-in or a language switch, or undefined: only
 * a relative path (`/konti/…`), never `//host` or `/\host` (another site), bounded in length.
 */
export function localPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 500) return undefined;
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(value) ? value : undefined;
}

/** The language cookie's attributes (the switch, the profile and sign-in set the same). */
export function langCookie(req: FastifyRequest, lang: Lang): string {
  return `${LANG_COOKIE}=${lang}; Path=/; Max-Age=${365 * 24 * 3600}; SameSite=Lax; HttpOnly${
    req.protocol === 'https' ? '; Secure' : ''
  }`;
}

/**
 * portalfix: a browser without a language cookie (a new device, just signed in) gets the person's
 * saved language (Profil), for this page and the ones after: the request reads it as if the cookie
 * were there, and the answer sets the cookie. A browser that has one keeps it (the switch wins).
 */
export async function applySavedLanguage(
  req: FastifyRequest,
  reply: FastifyReply,
  saved: () => Promise<Lang | undefined>,
): Promise<void> {
  if (req.cookies?.[LANG_COOKIE] !== undefined) return;
  const lang = await saved();
  if (!lang) return;
  (req.cookies as Record<string, string>)[LANG_COOKIE] = lang;
  reply.header('set-cookie', langCookie(req, lang));
}
