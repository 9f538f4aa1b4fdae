// @ts-check
/** @import { Codes, Lang, StaffSession } from '../till-api.js' */

/**
 * What every screen shares: the language, the code texts, the till and who is logged in to it.
 * What one screen alone needs stays in that screen's module.
 */
export const state = {
  lang: /** @type {Lang} */ (localStorage.getItem('kantine.lang') === 'en' ? 'en' : 'da'),
  /** @type {Codes} */
  codes: {},
  till: localStorage.getItem('kantine.till') ?? '',
  /** @type {StaffSession | null} */
  session: null,
};
