// @ts-check
/** The frame around the screens: which screen shows, and the words index.html carries. */
/** @import { TextKey } from './words.js' */
import { $ } from './dom.js';
import { state } from './state.js';
import { t } from './words.js';

export function show(/** @type {'login' | 'sell' | 'report' | 'webshop'} */ screen) {
  for (const id of ['login', 'sell', 'report', 'webshop']) $(`#${id}`).hidden = id !== screen;
  const loggedIn = screen !== 'login';
  $('[data-testid="logout"]').hidden = !loggedIn;
  $('[data-testid="open-report"]').hidden = !loggedIn;
  $('[data-testid="open-webshop"]').hidden = !loggedIn;
}

export function translateStatic() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll('[data-i18n]'))
    e.textContent = t(/** @type {TextKey} */ (e.getAttribute('data-i18n') ?? ''));
  $('[data-testid="lang"]').textContent = t('language');
  $('[data-testid="logout"]').textContent = t('logout');
  $('[data-testid="open-report"]').textContent = t('report');
  $('[data-testid="open-webshop"]').textContent = t('webshop');
  $('[data-testid="pay"]').textContent = t('pay');
  $('[data-testid="clear"]').textContent = t('clear');
  $('[data-testid="void"]').textContent = t('void');
}
