// @ts-check
/** Pre-orders: what a child ordered and paid in the webshop, handed out at the till after a balance tap. */
/** @import { Preorder } from '../till-api.js' */
import { errorCode, tillApi } from './api.js';
import { el } from './dom.js';
import { codeText, t } from './words.js';

/** Lists the child's paid orders in `list`, each with a button that marks it handed out. */
export function renderPreorders(/** @type {HTMLElement} */ list, /** @type {Preorder[]} */ orders) {
  if (orders.length === 0) list.append(el('li', {}, t('no_preorders')));
  else list.append(el('li', { class: 'heading' }, t('preorders')));
  for (const o of orders) {
    const li = el('li', { 'data-preorder': o.id });
    li.append(el('span', {}, o.lines.map((l) => `${l.quantity}× ${l.name}`).join(', ')));
    const b = el('button', { class: 'big' }, t('hand_out'));
    b.onclick = async () => {
      try {
        await tillApi.handOutPreorder(o.id);
        b.textContent = t('handed_out');
        b.setAttribute('disabled', '');
      } catch (err) {
        // Refused (another day's order, handed out at another till): say why, hand nothing out.
        const code = errorCode(err);
        li.querySelector('.refused')?.remove();
        li.append(el('span', { class: 'refused', role: 'alert' }, code ? codeText(code) : String(err)));
      }
    };
    li.append(b);
    list.append(li);
  }
}
