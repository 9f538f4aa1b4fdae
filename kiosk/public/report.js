// @ts-check
/** The end-of-day report: products sold, totals, voids and declined taps. */
import { tillApi } from './api.js';
import { $, el } from './dom.js';
import { show } from './shell.js';
import { codeText, kr, t } from './words.js';

export async function openReport() {
  const r = await tillApi.report();
  $('[data-testid="report-date"]').textContent = r.date;
  $('[data-testid="report-products"]').replaceChildren(
    ...r.products.map((p) => {
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
  /** @type {[label: string, value: string][]} */
  const rows = [
    [t('sales'), `${r.sales.count} · ${kr(r.sales.total_ore)}`],
    [t('voids'), `${r.voids.length} · −${kr(r.voids_total_ore)}`],
    [t('net'), kr(r.net_ore)],
  ];
  for (const [label, value] of rows) totals.append(el('dt', {}, label), el('dd', {}, value));
  const voids = $('[data-testid="report-voids"]');
  voids.replaceChildren(
    ...(r.voids.length
      ? r.voids.map((v) => el('li', {}, `${kr(v.amount_ore)} – ${v.reason}${v.staff_id ? ` (${v.staff_id})` : ''}`))
      : [el('li', {}, t('none'))]),
  );
  const declines = $('[data-testid="report-declines"]');
  declines.replaceChildren(
    ...(r.declines.length
      ? r.declines.map((d) => el('li', {}, `${d.count} × ${codeText(d.code)}`))
      : [el('li', {}, t('none'))]),
  );
  show('report');
}
