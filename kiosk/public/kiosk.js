// @ts-check
/**
 * The staff till screen. Staff log in to a till with their PIN, put products in the basket and
 * press pay; the child taps the card on the till's reader, and the gateway's answer arrives over
 * the till's WebSocket. No framework and no build step: the gateway serves these files as they are.
 *
 * This module starts the kiosk and joins the screens: login.js, sell.js (the basket),
 * tap-result.js (with preorders.js), void-sale.js, report.js; live.js keeps the till's WebSocket.
 */
import { errorCode, kioskApi, tillApi } from './api.js';
import { closeLive, connectLive, renderStatus } from './live.js';
import { openLogin, renderLogin } from './login.js';
import { openReport } from './report.js';
import { clearOrCancel, loadSelling, pay, renderSell } from './sell.js';
import { show, translateStatic } from './shell.js';
import { state } from './state.js';
import { showTap } from './tap-result.js';
import { closeVoid, openVoid } from './void-sale.js';
import { openWebshop, sendMenu } from './webshop.js';
import { codeText } from './words.js';

async function startLogin() {
  await openLogin(startSelling);
}

async function startSelling() {
  await loadSelling();
  connectLive({ onTap: showTap, onSessionEnded: startLogin });
  renderSell();
  show('sell');
}

async function logout() {
  await kioskApi.logout().catch(() => undefined);
  state.session = null;
  closeLive();
  await startLogin();
}

document.addEventListener('click', (ev) => {
  const target = /** @type {HTMLElement} */ (ev.target).closest('[data-action]');
  const action = target?.getAttribute('data-action');
  /** @type {Record<string, () => unknown>} */
  const actions = {
    lang: () => {
      state.lang = state.lang === 'da' ? 'en' : 'da';
      localStorage.setItem('kantine.lang', state.lang);
      translateStatic();
      if (state.session) renderSell();
      else renderLogin();
      renderStatus();
    },
    logout,
    report: openReport,
    webshop: openWebshop,
    'menu-send': sendMenu,
    back: () => show('sell'),
    print: () => window.print(),
    pay,
    clear: clearOrCancel,
    void: openVoid,
    'void-cancel': closeVoid,
  };
  const run = actions[action ?? ''];
  if (run) void run();
});

async function main() {
  state.codes = await kioskApi.codes();
  translateStatic();
  // Still logged in (a reload)? Go straight to selling.
  if (state.till) {
    const s = await tillApi.session().catch(() => null);
    if (s) {
      state.session = s;
      return startSelling();
    }
  }
  await startLogin();
}

main().catch((err) => {
  // e.g. screen_not_paired: a screen IT has not paired yet, in the kiosk's language
  const code = errorCode(err);
  document.body.textContent = `kantine: ${code && state.codes ? codeText(code) : err.message}`;
});
