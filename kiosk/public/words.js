// @ts-check
/** The kiosk's words in the current language: its own texts, amounts, allergens, categories, codes. */
import { allergenNames, categoryNames, texts } from './i18n.js';
import { state } from './state.js';

/** @typedef {Exclude<keyof typeof texts.da, 'reasons'>} TextKey */

/** The word for a key in the current language, with {placeholders} filled in. */
export function t(/** @type {TextKey} */ key, /** @type {Record<string, string>} */ vars = {}) {
  const table = /** @type {Record<string, unknown>} */ (texts[state.lang]);
  let s = String(table[key] ?? key);
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
}
export const kr = (/** @type {number} */ ore) =>
  `${(ore / 100).toLocaleString('da-DK', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${t('kr')}`;
export const allergen = (/** @type {string} */ a) =>
  /** @type {Record<string,string>} */ (allergenNames[state.lang])[a] ?? a;
export const categoryName = (/** @type {string} */ c) =>
  /** @type {Record<string,string>} */ (categoryNames[state.lang])[c] ?? c;
/** The catalogue's words for a code, in the current language. */
export const codeText = (/** @type {string} */ code) => state.codes[code]?.[state.lang] ?? code;
/** The reasons staff can give for voiding a sale. */
export const voidReasons = () => texts[state.lang].reasons;
