// @ts-check
/**
 * The staff till screen. Staff log in to a till with their PIN, put products in the basket and
 * press pay; the child taps the card on the till's reader, and the gateway's answer arrives over
 * the till's WebSocket. No framework and no build step: the gateway serves this file as it is.
 */
import { allergenNames, categoryNames, texts } from './i18n.js';

/** @typedef {{ id: string, name: string, category: string, price_ore: number, allergens: string[] }} Product */
/** @typedef {{ product_id: string, quantity: number }} Line */

const $ = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (document.querySelector(sel));
const el = (
  /** @type {string} */ tag,
  /** @type {Record<string, string>} */ attrs = {},
  /** @type {string} */ text = '',
) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
};

const state = {
  lang: /** @type {'da' | 'en'} */ (localStorage.getItem('kantine.lang') === 'en' ? 'en' : 'da'),
  /** @type {Record<string, {da: string, en: string, action_da?: string}>} */
  codes: {},
  /** @type {{ site: {id: string, name: string}, tills: {id: string, name: string, place_name: string}[], staff: {id: string, name: string}[] } | null} */
  options: null,
  till: localStorage.getItem('kantine.till') ?? '',
  staffId: '',
  pin: '',
  /** @type {{ staff_name: string } | null} */
  session: null,
  /** @type {Product[]} */
  products: [],
  category: '',
  /** @type {Line[]} */
  basket: [],
  /** The basket on the till in the ledger, waiting for a tap. */
  basketId: '',
  waiting: false,
  /** @type {WebSocket | null} */
  ws: null,
  wsRetry_ms: 500,
  reader: { state: 'none' },
  central: { state: 'not_configured' },
  placeName: '',
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  resultTimer: undefined,
};

/** The word for a key in the current language, with {placeholders} filled in. */
function t(/** @type {string} */ key, /** @type {Record<string, string>} */ vars = {}) {
  const table = /** @type {Record<string, unknown>} */ (texts[state.lang]);
  let s = String(table[key] ?? key);
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
  return s;
}
const kr = (/** @type {number} */ ore) =>
  `${(ore / 100).toLocaleString('da-DK', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${t('kr')}`;
const allergen = (/** @type {string} */ a) => /** @type {Record<string,string>} */ (allergenNames[state.lang])[a] ?? a;
const categoryName = (/** @type {string} */ c) =>
  /** @type {Record<string,string>} */ (categoryNames[state.lang])[c] ?? c;

/** Calls the gateway; a refusal comes back as `{code, message}` and is thrown as such. */
async function api(/** @type {string} */ method, /** @type {string} */ path, /** @type {unknown} */ body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const json = await res.json().catch(() => ({ code: 'internal_error', message: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(json.message), { code: json.code });
  return json;
}
const tillApi = (/** @type {string} */ method, /** @type {string} */ path, /** @type {unknown} */ body) =>
  api(method, `/api/tills/${encodeURIComponent(state.till)}${path}`, body);
/** The catalogue's words for a code, in the current language. */
const codeText = (/** @type {string} */ code) => state.codes[code]?.[state.lang] ?? code;

function show(/** @type {'login' | 'sell' | 'report'} */ screen) {
  for (const id of ['login', 'sell', 'report']) $(`#${id}`).hidden = id !== screen;
  const loggedIn = screen !== 'login';
  $('[data-testid="logout"]').hidden = !loggedIn;
  $('[data-testid="open-report"]').hidden = !loggedIn;
}

function translateStatic() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n') ?? '');
  $('[data-testid="lang"]').textContent = t('language');
  $('[data-testid="logout"]').textContent = t('logout');
  $('[data-testid="open-report"]').textContent = t('report');
  $('[data-testid="pay"]').textContent = t('pay');
  $('[data-testid="clear"]').textContent = t('clear');
  $('[data-testid="void"]').textContent = t('void');
}

// ── Logging in ──────────────────────────────────────────────────────────────────────────────

async function startLogin() {
  state.options = await api('GET', '/api/kiosk/login-options');
  if (!state.options) return;
  if (!state.options.tills.some((x) => x.id === state.till)) state.till = state.options.tills[0]?.id ?? '';
  state.staffId = '';
  state.pin = '';
  renderLogin();
  show('login');
}

function renderLogin() {
  const o = state.options;
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
      const b = el('button', { class: `tile${s.id === state.staffId ? ' chosen' : ''}`, 'data-staff': s.id }, s.name);
      b.onclick = () => {
        state.staffId = s.id;
        state.pin = '';
        $('[data-testid="login-error"]').textContent = '';
        renderLogin();
      };
      return b;
    }),
  );
  $('.pin').hidden = !state.staffId;
  $('[data-testid="pin-dots"]').textContent = '●'.repeat(state.pin.length) || ' ';
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
  if (k === '⌫') state.pin = state.pin.slice(0, -1);
  else if (k === 'OK') return login();
  else if (state.pin.length < 8) state.pin += k;
  renderLogin();
}

async function login() {
  try {
    const s = await api('POST', '/api/kiosk/login', { till_id: state.till, staff_id: state.staffId, pin: state.pin });
    localStorage.setItem('kantine.till', state.till);
    state.session = s;
    await startSelling();
  } catch (err) {
    state.pin = '';
    renderLogin();
    $('[data-testid="login-error"]').textContent = codeText(/** @type {any} */ (err).code);
  }
}

async function logout() {
  await api('POST', '/api/kiosk/logout').catch(() => undefined);
  state.session = null;
  state.ws?.close();
  state.ws = null;
  await startLogin();
}

// ── Selling ─────────────────────────────────────────────────────────────────────────────────

async function startSelling() {
  const cat = await tillApi('GET', '/catalogue');
  state.products = cat.products;
  state.placeName = cat.place?.name ?? '';
  $('[data-testid="where"]').textContent = `${cat.place?.name ?? ''} · ${cat.till?.name ?? ''}`;
  $('[data-testid="staff-name"]').textContent = state.session?.staff_name ?? '';
  // A basket left on the till (a reload mid-sale) is taken up again.
  const open = await tillApi('GET', '/basket');
  state.basket = open
    ? open.lines.map((/** @type {Line} */ l) => ({ product_id: l.product_id, quantity: l.quantity }))
    : [];
  state.basketId = open?.basket_id ?? '';
  state.waiting = Boolean(open);
  connectLive();
  renderSell();
  show('sell');
}

function renderSell() {
  const cats = [...new Set(state.products.map((p) => p.category))];
  const nav = $('[data-testid="categories"]');
  nav.replaceChildren(
    ...['', ...cats].map((c) => {
      const b = el(
        'button',
        { class: `tab${c === state.category ? ' chosen' : ''}`, 'data-category': c || 'all' },
        c ? categoryName(c) : t('all'),
      );
      b.onclick = () => {
        state.category = c;
        renderSell();
      };
      return b;
    }),
  );
  const grid = $('[data-testid="products"]');
  grid.replaceChildren(
    ...state.products
      .filter((p) => !state.category || p.category === state.category)
      .map((p) => {
        const b = el('button', { class: 'product', 'data-product': p.id });
        b.append(el('span', { class: 'name' }, p.name), el('span', { class: 'price' }, kr(p.price_ore)));
        if (p.allergens.length) b.append(el('span', { class: 'allergens' }, p.allergens.map(allergen).join(', ')));
        b.onclick = () => changeLine(p.id, +1);
        return b;
      }),
  );
  const list = $('[data-testid="basket-lines"]');
  list.replaceChildren(
    ...state.basket.map((l) => {
      const p = state.products.find((x) => x.id === l.product_id);
      const li = el('li', { 'data-line': l.product_id });
      const minus = el('button', { class: 'qty', 'aria-label': '−' }, '−');
      minus.onclick = () => changeLine(l.product_id, -1);
      const plus = el('button', { class: 'qty', 'aria-label': '+' }, '+');
      plus.onclick = () => changeLine(l.product_id, +1);
      li.append(
        minus,
        el('span', { class: 'q' }, `${l.quantity}×`),
        plus,
        el('span', { class: 'n' }, p?.name ?? l.product_id),
        el('span', { class: 'a' }, kr((p?.price_ore ?? 0) * l.quantity)),
      );
      return li;
    }),
  );
  $('[data-testid="basket-total"]').textContent = kr(total());
  const pay = /** @type {HTMLButtonElement} */ ($('[data-testid="pay"]'));
  pay.disabled = state.basket.length === 0 || state.waiting;
  pay.textContent = state.waiting ? t('waiting') : t('pay');
  pay.classList.toggle('waiting', state.waiting);
  $('[data-testid="clear"]').textContent = state.waiting ? t('cancel') : t('clear');
  $('[data-testid="basket-hint"]').textContent =
    state.basket.length === 0 ? t('empty_basket') : state.waiting ? t('tap_now') : '';
}

const total = () =>
  state.basket.reduce(
    (sum, l) => sum + (state.products.find((p) => p.id === l.product_id)?.price_ore ?? 0) * l.quantity,
    0,
  );

async function changeLine(/** @type {string} */ productId, /** @type {number} */ by) {
  const line = state.basket.find((l) => l.product_id === productId);
  if (line) line.quantity = Math.max(0, Math.min(99, line.quantity + by));
  else if (by > 0) state.basket.push({ product_id: productId, quantity: by });
  state.basket = state.basket.filter((l) => l.quantity > 0);
  // While the child is about to tap, the till's basket follows every change.
  if (state.waiting) await putBasket();
  renderSell();
}

async function putBasket() {
  if (state.basket.length === 0) {
    await tillApi('DELETE', '/basket');
    state.waiting = false;
    state.basketId = '';
    return;
  }
  const b = await tillApi('PUT', '/basket', { lines: state.basket });
  state.basketId = b.basket_id;
  state.waiting = true;
}

async function pay() {
  try {
    await putBasket();
  } catch (err) {
    showMessage('declined', codeText(/** @type {any} */ (err).code));
  }
  renderSell();
}

async function clearOrCancel() {
  if (state.waiting) await tillApi('DELETE', '/basket');
  state.waiting = false;
  state.basketId = '';
  state.basket = [];
  renderSell();
}

// ── Live: answers of taps, the reader, the link to central ──────────────────────────────────

function connectLive() {
  if (state.ws) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${proto}://${location.host}/api/tills/${encodeURIComponent(state.till)}/live`);
  state.ws = ws;
  ws.onopen = () => {
    state.wsRetry_ms = 500;
    document.body.classList.remove('offline');
  };
  ws.onmessage = (m) => onEvent(JSON.parse(m.data));
  ws.onclose = (e) => {
    state.ws = null;
    if (e.code === 4401) return void startLogin(); // the session ended
    if (!state.session) return;
    document.body.classList.add('offline');
    renderStatus();
    setTimeout(connectLive, state.wsRetry_ms);
    state.wsRetry_ms = Math.min(state.wsRetry_ms * 2, 10_000);
  };
}

function onEvent(/** @type {any} */ e) {
  if (e.type === 'hello' || e.type === 'reader') state.reader = e.reader;
  if (e.type === 'hello' || e.type === 'central') state.central = e.central;
  if (e.type === 'tap') showTap(e);
  renderStatus();
}

function renderStatus() {
  const r = $('[data-testid="reader-status"]');
  r.textContent = t(`reader_${state.reader.state}`);
  r.className = `status ${state.reader.state === 'online' ? 'good' : 'bad'}`;
  const c = $('[data-testid="central-status"]');
  c.textContent = state.ws ? t(`central_${state.central.state}`) : t('live_lost');
  c.className = `status ${state.ws && state.central.state === 'online' ? 'good' : 'warn'}`;
}

function showTap(/** @type {any} */ e) {
  const d = e.decision;
  const child = e.child;
  const box = $('#result');
  box.className = `overlay ${d.outcome === 'declined' ? (d.code === 'allergen_check' ? 'allergy' : 'declined') : d.outcome}`;
  const photo = /** @type {HTMLImageElement} */ ($('[data-testid="result-photo"]'));
  photo.hidden = !child?.photo;
  if (child?.photo) photo.src = child.photo;
  const title = $('[data-testid="result-title"]');
  const line = $('[data-testid="result-line"]');
  const action = $('[data-testid="result-action"]');
  const pre = $('[data-testid="preorders"]');
  const buttons = $('[data-testid="result-buttons"]');
  pre.replaceChildren();
  buttons.replaceChildren();
  action.textContent = d.card_kind === 'legacy' ? t('legacy_card') : '';
  const next = el('button', { class: 'big primary', 'data-action': 'next' }, t('next'));
  next.onclick = hideResult;

  if (d.outcome === 'approved') {
    title.textContent = `${t('approved')} – ${d.first_name ?? ''}`;
    line.textContent = `${t('paid')} ${kr(d.amount_ore)} · ${t('new_balance')} ${kr(d.balance_ore)}`;
    const items = (d.lines ?? []).map((/** @type {any} */ l) => `${l.quantity}× ${l.name}`).join(' · ');
    action.textContent = [items, action.textContent].filter(Boolean).join(' — ');
    state.basket = [];
    state.waiting = false;
    state.basketId = '';
    buttons.append(next);
    autoHide(4_000);
  } else if (d.outcome === 'balance') {
    title.textContent = `${child?.first_name ?? d.first_name ?? ''} ${child?.last_name ?? ''}`.trim();
    line.textContent = `${t('balance')} ${kr(d.balance_ore)}`;
    const orders = e.preorders ?? [];
    if (orders.length === 0) pre.append(el('li', {}, t('no_preorders')));
    else pre.append(el('li', { class: 'heading' }, t('preorders')));
    for (const o of orders) {
      const li = el('li', { 'data-preorder': o.id });
      li.append(el('span', {}, o.lines.map((/** @type {any} */ l) => `${l.quantity}× ${l.name}`).join(', ')));
      const b = el('button', { class: 'big' }, t('hand_out'));
      b.onclick = async () => {
        await tillApi('POST', `/preorders/${encodeURIComponent(o.id)}/hand-out`);
        b.textContent = t('handed_out');
        b.setAttribute('disabled', '');
      };
      li.append(b);
      pre.append(li);
    }
    buttons.append(next);
  } else if (d.code === 'allergen_check') {
    title.textContent = t('allergy_title');
    line.textContent = t('allergy_line', {
      name: child?.first_name ?? '',
      allergens: (e.allergens ?? []).map(allergen).join(', '),
    });
    action.textContent = state.basket
      .map((l) => state.products.find((p) => p.id === l.product_id))
      .filter((p) => p?.allergens.some((a) => (e.allergens ?? []).includes(a)))
      .map((p) => p?.name)
      .join(', ');
    const confirm = el('button', { class: 'big danger', 'data-action': 'allergy-confirm' }, t('allergy_confirm'));
    confirm.onclick = async () => {
      await tillApi('POST', '/basket/confirm-allergens', { basket_id: e.basket_id, account_id: child?.account_id });
      showMessage('waiting', t('tap_again'));
    };
    const remove = el('button', { class: 'big primary', 'data-action': 'allergy-remove' }, t('allergy_remove'));
    remove.onclick = async () => {
      state.basket = state.basket.filter((l) => {
        const p = state.products.find((x) => x.id === l.product_id);
        return !p?.allergens.some((a) => (e.allergens ?? []).includes(a));
      });
      await putBasket();
      renderSell();
      if (state.basket.length) showMessage('waiting', t('tap_again'));
      else hideResult();
    };
    buttons.append(confirm, remove);
  } else {
    const info = state.codes[d.code];
    title.textContent = `${t('declined')}${d.first_name ? ` – ${d.first_name}` : ''}`;
    line.textContent = codeText(d.code);
    const limit =
      d.limit_ore !== undefined ? ` ${t('limit', { limit: kr(d.limit_ore), spent: kr(d.spent_ore ?? 0) })}.` : '';
    // What to do: the catalogue says it in Danish; in English the reason itself is the guide.
    action.textContent =
      `${state.lang === 'da' ? (info?.action_da ?? '') : ''}${limit}${d.card_kind === 'legacy' ? ` ${t('legacy_card')}` : ''}`.trim();
    buttons.append(next);
  }
  box.dataset.outcome = d.outcome;
  box.dataset.code = d.code ?? '';
  box.hidden = false;
  renderSell();
}

function showMessage(/** @type {string} */ kind, /** @type {string} */ text) {
  const box = $('#result');
  box.className = `overlay ${kind}`;
  box.dataset.outcome = kind;
  box.dataset.code = '';
  $('[data-testid="result-photo"]').hidden = true;
  $('[data-testid="result-title"]').textContent = text;
  $('[data-testid="result-line"]').textContent = '';
  $('[data-testid="result-action"]').textContent = '';
  $('[data-testid="preorders"]').replaceChildren();
  const ok = el('button', { class: 'big primary', 'data-action': 'next' }, t('ok'));
  ok.onclick = hideResult;
  $('[data-testid="result-buttons"]').replaceChildren(ok);
  box.hidden = false;
}

function autoHide(/** @type {number} */ ms) {
  clearTimeout(state.resultTimer);
  state.resultTimer = setTimeout(hideResult, ms);
}
function hideResult() {
  clearTimeout(state.resultTimer);
  $('#result').hidden = true;
}

// ── Void the last sale ──────────────────────────────────────────────────────────────────────

async function openVoid() {
  const sale = await tillApi('GET', '/last-sale');
  const dialog = $('#void');
  $('[data-testid="void-error"]').textContent = '';
  const reasons = $('[data-testid="void-reasons"]');
  reasons.replaceChildren();
  if (!sale) {
    $('[data-testid="void-sale"]').textContent = t('void_none');
  } else {
    const at = new Date(sale.at).toLocaleTimeString('da-DK', {
      hour: '2-digit',
      minute: '2-digit',
      timeZone: 'Europe/Copenhagen',
    });
    $('[data-testid="void-sale"]').textContent = `${sale.first_name} · ${kr(sale.amount_ore)} · ${at}`;
    for (const reason of /** @type {string[]} */ (/** @type {any} */ (texts[state.lang]).reasons)) {
      const b = el('button', { class: 'tile', 'data-reason': reason }, reason);
      b.onclick = async () => {
        try {
          const v = await tillApi('POST', '/void', { entry_id: sale.entry_id, reason });
          dialog.hidden = true;
          showMessage('voided', t('void_done', { amount: kr(v.amount_ore) }));
          autoHide(4_000);
        } catch (err) {
          $('[data-testid="void-error"]').textContent = codeText(/** @type {any} */ (err).code);
        }
      };
      reasons.append(b);
    }
  }
  dialog.hidden = false;
}

// ── End-of-day report ───────────────────────────────────────────────────────────────────────

async function openReport() {
  const r = await tillApi('GET', '/report');
  $('[data-testid="report-date"]').textContent = r.date;
  $('[data-testid="report-products"]').replaceChildren(
    ...r.products.map((/** @type {any} */ p) => {
      const tr = el('tr');
      tr.append(
        el('td', {}, p.name),
        el('td', { class: 'num' }, String(p.quantity)),
        el('td', { class: 'num' }, kr(p.total_ore)),
      );
      return tr;
    }),
  );
  const totals = $('[data-testid="report-totals"]');
  totals.replaceChildren();
  for (const [label, value] of [
    [t('sales'), `${r.sales.count} · ${kr(r.sales.total_ore)}`],
    [t('voids'), `${r.voids.length} · −${kr(r.voids_total_ore)}`],
    [t('net'), kr(r.net_ore)],
  ])
    totals.append(el('dt', {}, label), el('dd', {}, value));
  const voids = $('[data-testid="report-voids"]');
  voids.replaceChildren(
    ...(r.voids.length
      ? r.voids.map((/** @type {any} */ v) =>
          el('li', {}, `${kr(v.amount_ore)} – ${v.reason}${v.staff_id ? ` (${v.staff_id})` : ''}`),
        )
      : [el('li', {}, t('none'))]),
  );
  const declines = $('[data-testid="report-declines"]');
  declines.replaceChildren(
    ...(r.declines.length
      ? r.declines.map((/** @type {any} */ d) => el('li', {}, `${d.count} × ${codeText(d.code)}`))
      : [el('li', {}, t('none'))]),
  );
  show('report');
}

// ── Wiring ──────────────────────────────────────────────────────────────────────────────────

document.addEventListener('click', (ev) => {
  const target = /** @type {HTMLElement} */ (ev.target).closest('[data-action]');
  const action = target?.getAttribute('data-action');
  const run = {
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
    back: () => show('sell'),
    print: () => window.print(),
    pay,
    clear: clearOrCancel,
    void: openVoid,
    'void-cancel': () => {
      $('#void').hidden = true;
    },
  }[action ?? ''];
  if (run) void run();
});

async function main() {
  state.codes = await api('GET', '/api/kiosk/codes');
  translateStatic();
  // Still logged in (a reload)? Go straight to selling.
  if (state.till) {
    const s = await tillApi('GET', '/session').catch(() => null);
    if (s) {
      state.session = s;
      return startSelling();
    }
  }
  await startLogin();
}

main().catch((err) => {
  document.body.textContent = `kantine: ${err.message}`;
});
