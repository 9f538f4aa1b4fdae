// @ts-check
/** Voiding the last sale: staff give a reason, and the money goes back on the card. */
import { errorCode, tillApi } from './api.js';
import { $, el } from './dom.js';
import { autoHide, showMessage } from './overlay.js';
import { codeText, kr, t, voidReasons } from './words.js';

export async function openVoid() {
  const sale = await tillApi.lastSale();
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
    for (const reason of voidReasons()) {
      const b = el('button', { class: 'tile', 'data-reason': reason }, reason);
      b.onclick = async () => {
        try {
          const v = await tillApi.voidSale({ entry_id: sale.entry_id, reason });
          dialog.hidden = true;
          showMessage('voided', t('void_done', { amount: kr(v.amount_ore) }));
          autoHide(4_000);
        } catch (err) {
          $('[data-testid="void-error"]').textContent = codeText(errorCode(err));
        }
      };
      reasons.append(b);
    }
  }
  dialog.hidden = false;
}

export function closeVoid() {
  $('#void').hidden = true;
}
