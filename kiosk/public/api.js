// @ts-check
/**
 * The gateway's till API from the kiosk's side: one function per route, the bodies typed by
 * ../till-api.d.ts. A refusal comes back as `{code, message}` and is thrown as an Error with its code.
 */
/**
 * @import {
 *   ApiErrorBody, Basket, BasketRequestLine, Catalogue, Codes, ConfirmAllergensRequest, LastSale,
 *   LoginOptions, LoginRequest, Preorder, StaffSession, TillReport, VoidRequest, Voided,
 *   KioskMenuRequest, SentMenu, KitchenList, KioskMenuStatus,
 * } from '../till-api.js'
 */
import { state } from './state.js';

/**
 * Calls the gateway.
 * @template T
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<T>} the route's answer as till-api.d.ts declares it (null for 204 No Content)
 */
async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return /** @type {T} */ (null);
  /** @type {unknown} */
  const json = await res.json().catch(() => ({ code: 'internal_error', message: res.statusText }));
  if (!res.ok) {
    const refusal = /** @type {ApiErrorBody} */ (json);
    throw Object.assign(new Error(refusal.message), { code: refusal.code });
  }
  return /** @type {T} */ (json);
}

/** The code of a refusal the API threw; '' for anything else (no network), which has no words. */
export const errorCode = (/** @type {unknown} */ err) => /** @type {{ code?: string }} */ (err).code ?? '';

/** Routes without a till: the code texts and logging in and out. */
export const kioskApi = {
  /** @returns {Promise<Codes>} */
  codes: () => call('GET', '/api/kiosk/codes'),
  /** @returns {Promise<LoginOptions>} */
  loginOptions: () => call('GET', '/api/kiosk/login-options'),
  /** @returns {Promise<StaffSession>} */
  login: (/** @type {LoginRequest} */ body) => call('POST', '/api/kiosk/login', body),
  /** @returns {Promise<null>} */
  logout: () => call('POST', '/api/kiosk/logout'),
};

/**
 * Calls a route of the till the kiosk is on (a staff session for it needed).
 * @template T
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<T>}
 */
const tillCall = (method, path, body) => call(method, `/api/tills/${encodeURIComponent(state.till)}${path}`, body);

/** Routes of the till the kiosk is on. */
export const tillApi = {
  /** @returns {Promise<StaffSession>} */
  session: () => tillCall('GET', '/session'),
  /** @returns {Promise<Catalogue>} */
  catalogue: () => tillCall('GET', '/catalogue'),
  /** The basket left on the till, waiting for a tap. @returns {Promise<Basket | null>} */
  basket: () => tillCall('GET', '/basket'),
  /** @returns {Promise<Basket>} */
  putBasket: (/** @type {BasketRequestLine[]} */ lines) => tillCall('PUT', '/basket', { lines }),
  /** @returns {Promise<null>} */
  deleteBasket: () => tillCall('DELETE', '/basket'),
  /**
   * Sells the basket to this child despite an allergen. The tap event names both; one it lacks
   * is left out of the body, and the gateway refuses it.
   * @param {Partial<ConfirmAllergensRequest>} body
   * @returns {Promise<null>}
   */
  confirmAllergens: (body) => tillCall('POST', '/basket/confirm-allergens', body),
  /** @returns {Promise<LastSale | null>} */
  lastSale: () => tillCall('GET', '/last-sale'),
  /** @returns {Promise<Voided>} */
  voidSale: (/** @type {VoidRequest} */ body) => tillCall('POST', '/void', body),
  /** @returns {Promise<TillReport>} */
  report: () => tillCall('GET', '/report'),
  /** @returns {Promise<Preorder>} */
  handOutPreorder: (/** @type {string} */ id) => tillCall('POST', `/preorders/${encodeURIComponent(id)}/hand-out`),
  // — webshop —
  /** @returns {Promise<{ menu: SentMenu }>} */
  sendMenu: (/** @type {string} */ date, /** @type {KioskMenuRequest} */ body) =>
    tillCall('PUT', `/menus/${encodeURIComponent(date)}`, body),
  /** @returns {Promise<KioskMenuStatus>} what central said of the menu sent for a date (shopfix) */
  menuStatus: (/** @type {string} */ date) => tillCall('GET', `/menus/${encodeURIComponent(date)}`),
  /** @returns {Promise<KitchenList>} */
  kitchenList: (/** @type {string} */ date) => tillCall('GET', `/preorders?date=${encodeURIComponent(date)}`),
};
