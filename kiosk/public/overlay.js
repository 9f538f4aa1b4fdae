// @ts-check
/** The result overlay: a short message in large type, and hiding it again. */
import { $, el } from './dom.js';
import { t } from './words.js';

/** @type {ReturnType<typeof setTimeout> | undefined} */
let hideTimer;

/** Shows a message (`kind` is the overlay's look and its data-outcome) with an OK button. */
export function showMessage(/** @type {string} */ kind, /** @type {string} */ text) {
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

export function autoHide(/** @type {number} */ ms) {
  clearTimeout(hideTimer);
  hideTimer = setTimeout(hideResult, ms);
}
export function hideResult() {
  clearTimeout(hideTimer);
  $('#result').hidden = true;
}
