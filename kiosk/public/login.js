// @ts-check
/** Logging in: choose the till, your name, then your PIN. */
/** @import { LoginOptions } from '../till-api.js' */
import { errorCode, kioskApi } from './api.js';
import { $, el } from './dom.js';
import { show } from './shell.js';
import { state } from './state.js';
import { codeText } from './words.js';

/** The login screen's state. */
const login = {
  /** @type {LoginOptions | null} */
  options: null,
  staffId: '',
  pin: '',
  /** What comes after a good PIN: selling. */
  loggedIn: async () => {},
};

/** Shows the login screen; `loggedIn` runs once staff have logged in (its failure shows as a login error). */
export async function openLogin(/** @type {() => Promise<void>} */ loggedIn) {
  login.loggedIn = loggedIn;
  login.options = await kioskApi.loginOptions();
  if (!login.options) return;
  if (!login.options.tills.some((x) => x.id === state.till)) state.till = login.options.tills[0]?.id ?? '';
  login.staffId = '';
  login.pin = '';
  renderLogin();
  show('login');
}

export function renderLogin() {
  const o = login.options;
  if (!o) return;
  $('[data-testid="where"]').textContent = o.site.name;
  const tills = $('[data-testid="tills"]');
  tills.replaceChildren(
    ...o.tills.map((till) => {
      const b = el(
        'button',
        { class: `tile${till.id === state.till ? ' chosen' : ''}`, 'data-till': till.id },
        `${till.name}`,
      );
      b.append(el('small', {}, till.place_name));
      b.onclick = () => {
        state.till = till.id;
        renderLogin();
      };
      return b;
    }),
  );
  const staff = $('[data-testid="staff"]');
  staff.replaceChildren(
    ...o.staff.map((s) => {
      const b = el('button', { class: `tile${s.id === login.staffId ? ' chosen' : ''}`, 'data-staff': s.id }, s.name);
      b.onclick = () => {
        login.staffId = s.id;
        login.pin = '';
        $('[data-testid="login-error"]').textContent = '';
        renderLogin();
      };
      return b;
    }),
  );
  $('.pin').hidden = !login.staffId;
  $('[data-testid="pin-dots"]').textContent = '●'.repeat(login.pin.length) || ' ';
  const pad = $('[data-testid="pinpad"]');
  if (!pad.childElementCount) {
    for (const k of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '⌫', '0', 'OK']) {
      const b = el('button', { class: 'key', 'data-key': k }, k);
      b.onclick = () => pinKey(k);
      pad.append(b);
    }
  }
}

async function pinKey(/** @type {string} */ k) {
  if (k === '⌫') login.pin = login.pin.slice(0, -1);
  else if (k === 'OK') return logIn();
  else if (login.pin.length < 8) login.pin += k;
  renderLogin();
}

async function logIn() {
  try {
    const s = await kioskApi.login({ till_id: state.till, staff_id: login.staffId, pin: login.pin });
    localStorage.setItem('kantine.till', state.till);
    state.session = s;
    await login.loggedIn();
  } catch (err) {
    login.pin = '';
    renderLogin();
    $('[data-testid="login-error"]').textContent = codeText(errorCode(err));
  }
}
