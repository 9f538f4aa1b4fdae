// @ts-check
/**
 * The webshop at the till (issue 20): canteen staff choose which of the place's products guardians
 * may order for a day, until when, and how many at most; the menu goes up the link to central.
 * Below, the kitchen's list: how many of each item was ordered and paid for that day (kept at the
 * site once sent, so it shows without central too).
 */
import { errorCode, tillApi } from './api.js';
import { $, el } from './dom.js';
import { show } from './shell.js';
import { state } from './state.js';
import { categoryName, codeText, kr, t } from './words.js';

/** Tomorrow, as the date field writes it (the kiosk's own day). */
function tomorrow() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const dateField = () => /** @type {HTMLInputElement} */ ($('[data-testid="menu-date"]'));

export async function openWebshop() {
  if (!dateField().value) dateField().value = tomorrow();
  dateField().onchange = () => {
    $('[data-testid="menu-message"]').textContent = '';
    void renderKitchen();
    void watchMenu(dateField().value);
  };
  const { products } = await tillApi.catalogue();
  $('[data-testid="menu-products"]').replaceChildren(
    ...products.map((p) => {
      const tr = el('tr', { 'data-menu-product': p.id });
      const pick = el('input', { type: 'checkbox', 'aria-label': p.name });
      const cap = el('input', {
        type: 'number',
        min: '1',
        max: '10000',
        inputmode: 'numeric',
        'aria-label': t('menu_cap'),
      });
      const name = el('td', {}, p.name);
      name.append(el('small', {}, ` ${categoryName(p.category)}`));
      const box = el('td');
      box.append(pick);
      const capCell = el('td');
      capCell.append(cap);
      tr.append(box, name, el('td', { class: 'num' }, kr(p.price_ore)), capCell);
      return tr;
    }),
  );
  $('[data-testid="menu-message"]').textContent = '';
  await renderKitchen();
  show('webshop');
  void watchMenu(dateField().value);
}

/** A local day and a clock time as an instant (the kiosk stands at the site, in its time zone). */
const at = (/** @type {string} */ date, /** @type {string} */ hhmm) => new Date(`${date}T${hhmm}`).toISOString();

export async function sendMenu() {
  const message = $('[data-testid="menu-message"]');
  const date = dateField().value;
  message.classList.remove('sent');
  /** @type {{ product_id: string; cap: number | null }[]} */
  const items = [];
  for (const row of document.querySelectorAll('[data-menu-product]')) {
    const [pick, cap] = /** @type {NodeListOf<HTMLInputElement>} */ (row.querySelectorAll('input'));
    if (pick?.checked)
      items.push({
        product_id: row.getAttribute('data-menu-product') ?? '',
        cap: cap?.value ? Number(cap.value) : null,
      });
  }
  if (items.length === 0) {
    message.textContent = t('menu_none');
    return;
  }
  const orderBy = /** @type {HTMLInputElement} */ ($('[data-testid="menu-order-by"]')).value;
  const cancelBy = /** @type {HTMLInputElement} */ ($('[data-testid="menu-cancel-by"]')).value;
  try {
    await tillApi.sendMenu(date, {
      order_deadline: at(date, orderBy),
      cancel_deadline: at(date, cancelBy),
      items,
    });
  } catch (err) {
    const code = errorCode(err);
    message.textContent = code ? codeText(code) : String(/** @type {Error} */ (err).message);
    return;
  }
  // Sent is not taken: central checks the menu too, and answers down the link.
  message.textContent = t('menu_waiting');
  await watchMenu(date);
}

/** Shows what central said of the menu sent for `date`, asking again for a while as long as it is on its way. */
async function watchMenu(/** @type {string} */ date) {
  for (let i = 0; i < 120; i++) {
    if (dateField().value !== date) return; // another day is shown now
    const status = await tillApi.menuStatus(date).catch(() => null);
    if (!status) return;
    showMenuStatus(status);
    if (status.state !== 'sent') return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function showMenuStatus(/** @type {import('../till-api.js').KioskMenuStatus} */ status) {
  const message = $('[data-testid="menu-message"]');
  message.classList.remove('sent');
  message.removeAttribute('data-menu-state');
  message.setAttribute('data-menu-state', status.state);
  if (status.state === 'accepted') {
    message.textContent = t('menu_sent', { n: String(status.items) });
    message.classList.add('sent');
  } else if (status.state === 'refused') {
    const info = status.code ? state.codes[status.code] : undefined;
    const why = info ? [info[state.lang], state.lang === 'da' ? info.action_da : info.action_en] : [status.code];
    message.textContent = t('menu_refused', { why: why.filter(Boolean).join('. ') });
  } else message.textContent = t('menu_waiting');
}

async function renderKitchen() {
  const list = await tillApi.kitchenList(dateField().value);
  $('[data-testid="kitchen-summary"]').textContent =
    list.orders.length === 0 ? t('kitchen_none') : t('kitchen_orders', { n: String(list.orders.length) });
  $('[data-testid="kitchen-counts"]').replaceChildren(
    ...list.counts.map((c) => {
      const tr = el('tr', { 'data-kitchen-product': c.product_id });
      tr.append(el('td', {}, c.name), el('td', { class: 'num' }, String(c.quantity)));
      return tr;
    }),
  );
}
