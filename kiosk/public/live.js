// @ts-check
/** The till's WebSocket: answers of taps, the reader's state, the link to central; and the status bar. */
/** @import { CentralState, ReaderState, TillEvent, TillTapEvent } from '../till-api.js' */
import { $ } from './dom.js';
import { state } from './state.js';
import { t } from './words.js';

/**
 * What the kiosk does with what the socket brings.
 * @typedef {{ onTap(e: TillTapEvent): void, onSessionEnded(): Promise<void> }} LiveHandlers
 */

const live = {
  /** @type {WebSocket | null} */
  ws: null,
  retry_ms: 500,
  /** @type {Pick<ReaderState, 'state'>} */
  reader: { state: 'none' },
  /** @type {CentralState} */
  central: { state: 'not_configured' },
};

/** Opens the till's socket (unless it is open), and opens it again after it is lost. */
export function connectLive(/** @type {LiveHandlers} */ handlers) {
  if (live.ws) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${proto}://${location.host}/api/tills/${encodeURIComponent(state.till)}/live`);
  live.ws = ws;
  ws.onopen = () => {
    live.retry_ms = 500;
    document.body.classList.remove('offline');
  };
  ws.onmessage = (m) => onEvent(/** @type {TillEvent} */ (JSON.parse(m.data)), handlers);
  ws.onclose = (e) => {
    live.ws = null;
    if (e.code === 4401) return void handlers.onSessionEnded(); // the session ended
    if (!state.session) return;
    document.body.classList.add('offline');
    renderStatus();
    setTimeout(() => connectLive(handlers), live.retry_ms);
    live.retry_ms = Math.min(live.retry_ms * 2, 10_000);
  };
}

/** Closes the socket (logging out: with no session it is not opened again). */
export function closeLive() {
  live.ws?.close();
  live.ws = null;
}

function onEvent(/** @type {TillEvent} */ e, /** @type {LiveHandlers} */ handlers) {
  if (e.type === 'hello' || e.type === 'reader') live.reader = e.reader;
  if (e.type === 'hello' || e.type === 'central') live.central = e.central;
  if (e.type === 'tap') handlers.onTap(e);
  renderStatus();
}

export function renderStatus() {
  const r = $('[data-testid="reader-status"]');
  r.textContent = t(`reader_${live.reader.state}`);
  r.className = `status ${live.reader.state === 'online' ? 'good' : 'bad'}`;
  const c = $('[data-testid="central-status"]');
  // Changes from central this site could not apply: sales go on, but IT must look (an alarm).
  const setAside = live.central.set_aside ?? 0;
  const line = setAside > 0 ? ` · ${t('central_set_aside', { n: String(setAside) })}` : '';
  c.textContent = live.ws ? `${t(`central_${live.central.state}`)}${line}` : t('live_lost');
  c.className = `status ${live.ws && live.central.state === 'online' && setAside === 0 ? 'good' : 'warn'}`;
}
