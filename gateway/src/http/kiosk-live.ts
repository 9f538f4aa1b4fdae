import type { CentralState, ReaderState, ReaderStatus, TillEvent, TillTapEvent } from '@kantine/protocol';
import type { FastifyInstance } from 'fastify';
import type { Ledger } from '../ledger/ledger.ts';
import type { Decided } from '../taps/commit.ts';
import type { StaffSessions } from './staff-sessions.ts';
import { SESSION_COOKIE } from './till-api.ts';

export type { CentralState, ReaderState, TillEvent, TillTapEvent } from '@kantine/protocol';

/** What the kiosk's live updates need of the gateway: its stores and what happens on the site. */
export interface KioskLiveDeps {
  ledger: Ledger;
  staff: StaffSessions;
  /** The readers' last reported status, by reader id. */
  readers: ReadonlyMap<string, ReaderStatus>;
  /** The link to central now. */
  central: () => CentralState;
  onDecided: (listener: (decided: Decided) => void) => void;
  onCentral: (listener: (central: CentralState) => void) => void;
  onReader: (listener: (status: ReaderStatus) => void) => void;
}

// A kiosk per till and perhaps a second screen: more sockets than this per till is a leak.
const SOCKETS_PER_TILL_MAX = 8;
// How often open screens are checked against their sessions (staff removed or given a new PIN
// from the CLI, another process): a removed member of staff's screen goes dark within this.
const SESSION_SWEEP_MS = 5_000;

interface LiveSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  on(event: 'close', listener: () => void): unknown;
}

/**
 * Live updates for the kiosk over a WebSocket at `/api/tills/:till/live` (staff session needed):
 * every decision at that till with the child's name, photo and balance, the reader's state and
 * the state of the link to central.
 */
export function registerKioskLive(app: FastifyInstance, deps: KioskLiveDeps): void {
  const { ledger } = deps;
  const sockets = new Map<string, Set<LiveSocket>>();
  /** The session token each open screen logged in with. */
  const tokens = new Map<LiveSocket, string>();
  /** Whether a screen's session still holds; closes it when not. */
  const stillLoggedIn = (ws: LiveSocket): boolean => {
    if (deps.staff.get(tokens.get(ws))) return true;
    ws.close(4401, 'not_logged_in');
    tokens.delete(ws);
    for (const set of sockets.values()) set.delete(ws);
    return false;
  };
  const send = (tillId: string, event: TillEvent) => {
    const data = JSON.stringify(event);
    for (const ws of sockets.get(tillId) ?? []) if (stillLoggedIn(ws)) ws.send(data);
  };
  const sweep = setInterval(() => {
    for (const ws of [...tokens.keys()]) stillLoggedIn(ws);
  }, SESSION_SWEEP_MS).unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const readerOf = (tillId: string): ReaderState => {
    const reader = ledger.readers.listReaders().find((r) => r.till_id === tillId && !r.revoked_at);
    if (!reader) return { reader_id: null, state: 'none' };
    return { reader_id: reader.id, state: deps.readers.get(reader.id)?.state === 'online' ? 'online' : 'offline' };
  };

  deps.onDecided((decided) => {
    const { decision } = decided;
    if (decided.replay || !decision.till_id) return;
    const tillId = decision.till_id;
    if (!sockets.get(tillId)?.size) return;
    const event: TillTapEvent = { type: 'tap', decision };
    const child = decided.account_id ? ledger.accounts.getAccountCard(decided.account_id) : undefined;
    if (child) {
      event.child = {
        account_id: child.id,
        first_name: child.first_name,
        last_name: child.last_name,
        photo: child.photo,
        balance_ore: child.balance_ore,
      };
    }
    if (decided.allergens) {
      event.allergens = decided.allergens;
      const basket = ledger.baskets.getBasket(tillId);
      if (basket) event.basket_id = basket.basket_id;
    }
    if (decision.outcome === 'balance' && child) {
      const till = ledger.catalogue.getTill(tillId);
      if (till) event.preorders = ledger.preorders.openPreorders(child.id, till.place_id);
    }
    send(tillId, event);
  });
  deps.onCentral((central) => {
    for (const tillId of sockets.keys()) send(tillId, { type: 'central', central });
  });
  deps.onReader((status) => {
    const reader = ledger.readers.listReaders().find((r) => r.id === status.reader_id);
    if (reader?.till_id) send(reader.till_id, { type: 'reader', reader: readerOf(reader.till_id) });
  });

  app.get('/api/tills/:till/live', { websocket: true }, (socket, req) => {
    const tillId = String((req.params as { till?: unknown }).till ?? '');
    const token = req.cookies[SESSION_COOKIE];
    const session = deps.staff.get(token);
    if (!session || !token || session.till_id !== tillId) {
      socket.close(4401, 'not_logged_in');
      return;
    }
    // Browsers send cookies with a WebSocket from any page (SameSite does not cover every case):
    // only the kiosk's own page, served from this very origin, may open one.
    if (req.headers.origin !== `${req.protocol}://${req.headers.host}`) {
      socket.close(4403, 'origin_refused');
      return;
    }
    const set = sockets.get(tillId) ?? new Set();
    if (set.size >= SOCKETS_PER_TILL_MAX) {
      socket.close(4429, 'too many screens on this till');
      return;
    }
    set.add(socket);
    sockets.set(tillId, set);
    tokens.set(socket, token);
    socket.on('close', () => {
      set.delete(socket);
      tokens.delete(socket);
    });
    socket.send(
      JSON.stringify({
        type: 'hello',
        till_id: tillId,
        staff_name: session.staff_name,
        reader: readerOf(tillId),
        central: deps.central(),
      } satisfies TillEvent),
    );
  });
}
