// @ts-check
/**
 * The answer of a tap, in large type: approved, the balance (with pre-orders to hand out), an
 * allergen in the basket (staff confirm or remove it), or declined with the reason and what to do.
 */
/** @import { Product, TillTapEvent } from '../till-api.js' */
import { tillApi } from './api.js';
import { $, el } from './dom.js';
import { autoHide, hideResult, showMessage } from './overlay.js';
import { renderPreorders } from './preorders.js';
import { forgetBasket, productOf, putBasket, renderSell, selling } from './sell.js';
import { state } from './state.js';
import { allergen, codeText, kr, t } from './words.js';

export function showTap(/** @type {TillTapEvent} */ e) {
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
    const items = (d.lines ?? []).map((l) => `${l.quantity}× ${l.name}`).join(' · ');
    action.textContent = [items, action.textContent].filter(Boolean).join(' — ');
    forgetBasket();
    buttons.append(next);
    autoHide(4_000);
  } else if (d.outcome === 'balance') {
    title.textContent = `${child?.first_name ?? d.first_name ?? ''} ${child?.last_name ?? ''}`.trim();
    line.textContent = `${t('balance')} ${kr(d.balance_ore)}`;
    renderPreorders(pre, e.preorders ?? []);
    buttons.append(next);
  } else if (d.code === 'allergen_check') {
    const found = e.allergens ?? [];
    /** Whether the child is allergic to something in this product. */
    const allergic = (/** @type {Product | undefined} */ p) => p?.allergens.some((a) => found.includes(a));
    title.textContent = t('allergy_title');
    line.textContent = t('allergy_line', { name: child?.first_name ?? '', allergens: found.map(allergen).join(', ') });
    action.textContent = selling.basket
      .map((l) => productOf(l.product_id))
      .filter(allergic)
      .map((p) => p?.name)
      .join(', ');
    const confirm = el('button', { class: 'big danger', 'data-action': 'allergy-confirm' }, t('allergy_confirm'));
    confirm.onclick = async () => {
      await tillApi.confirmAllergens({ basket_id: e.basket_id, account_id: child?.account_id });
      showMessage('waiting', t('tap_again'));
    };
    const remove = el('button', { class: 'big primary', 'data-action': 'allergy-remove' }, t('allergy_remove'));
    remove.onclick = async () => {
      selling.basket = selling.basket.filter((l) => !allergic(productOf(l.product_id)));
      await putBasket();
      renderSell();
      if (selling.basket.length) showMessage('waiting', t('tap_again'));
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
