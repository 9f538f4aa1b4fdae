// @ts-check
/** Selling: products by category, the basket, pay. While the child is about to tap, the till's basket follows. */
/** @import { BasketRequestLine, Product } from '../till-api.js' */
import { errorCode, tillApi } from './api.js';
import { $, el } from './dom.js';
import { showMessage } from './overlay.js';
import { state } from './state.js';
import { allergen, categoryName, codeText, kr, t } from './words.js';

/** The sell screen's state. */
export const selling = {
  /** @type {Product[]} */
  products: [],
  /** The category shown; '' for all. */
  category: '',
  /** @type {BasketRequestLine[]} */
  basket: [],
  /** The basket on the till in the ledger, waiting for a tap. */
  basketId: '',
  waiting: false,
};

/** Loads what the till sells, and takes up a basket left on it (a reload mid-sale). */
export async function loadSelling() {
  const cat = await tillApi.catalogue();
  selling.products = cat.products;
  $('[data-testid="where"]').textContent = `${cat.place?.name ?? ''} · ${cat.till?.name ?? ''}`;
  $('[data-testid="staff-name"]').textContent = state.session?.staff_name ?? '';
  const open = await tillApi.basket();
  selling.basket = open ? open.lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity })) : [];
  selling.basketId = open?.basket_id ?? '';
  selling.waiting = Boolean(open);
}

export function renderSell() {
  const cats = [...new Set(selling.products.map((p) => p.category))];
  const nav = $('[data-testid="categories"]');
  nav.replaceChildren(
    ...['', ...cats].map((c) => {
      const b = el(
        'button',
        { class: `tab${c === selling.category ? ' chosen' : ''}`, 'data-category': c || 'all' },
        c ? categoryName(c) : t('all'),
      );
      b.onclick = () => {
        selling.category = c;
        renderSell();
      };
      return b;
    }),
  );
  const grid = $('[data-testid="products"]');
  grid.replaceChildren(
    ...selling.products
      .filter((p) => !selling.category || p.category === selling.category)
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
    ...selling.basket.map((l) => {
      const p = productOf(l.product_id);
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
  pay.disabled = selling.basket.length === 0 || selling.waiting;
  pay.textContent = selling.waiting ? t('waiting') : t('pay');
  pay.classList.toggle('waiting', selling.waiting);
  $('[data-testid="clear"]').textContent = selling.waiting ? t('cancel') : t('clear');
  $('[data-testid="basket-hint"]').textContent =
    selling.basket.length === 0 ? t('empty_basket') : selling.waiting ? t('tap_now') : '';
}

/** A product of the till's catalogue. */
export const productOf = (/** @type {string} */ id) => selling.products.find((p) => p.id === id);

const total = () => selling.basket.reduce((sum, l) => sum + (productOf(l.product_id)?.price_ore ?? 0) * l.quantity, 0);

async function changeLine(/** @type {string} */ productId, /** @type {number} */ by) {
  const line = selling.basket.find((l) => l.product_id === productId);
  if (line) line.quantity = Math.max(0, Math.min(99, line.quantity + by));
  else if (by > 0) selling.basket.push({ product_id: productId, quantity: by });
  selling.basket = selling.basket.filter((l) => l.quantity > 0);
  // While the child is about to tap, the till's basket follows every change.
  if (selling.waiting) await putBasket();
  renderSell();
}

/** Puts the basket on the till for the next tap, or takes it off when it is empty. */
export async function putBasket() {
  if (selling.basket.length === 0) {
    await tillApi.deleteBasket();
    selling.waiting = false;
    selling.basketId = '';
    return;
  }
  const b = await tillApi.putBasket(selling.basket);
  selling.basketId = b.basket_id;
  selling.waiting = true;
}

export async function pay() {
  try {
    await putBasket();
  } catch (err) {
    showMessage('declined', codeText(errorCode(err)));
  }
  renderSell();
}

export async function clearOrCancel() {
  if (selling.waiting) await tillApi.deleteBasket();
  forgetBasket();
  renderSell();
}

/** Empties the kiosk's basket: the sale is done or called off. */
export function forgetBasket() {
  selling.waiting = false;
  selling.basketId = '';
  selling.basket = [];
}
