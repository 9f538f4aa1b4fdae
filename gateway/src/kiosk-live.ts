import type { Decision } from '@kantine/protocol';
import type { FastifyInstance } from 'fastify';
import type { Gateway } from './gateway.ts';
import type { Decided, Preorder } from './ledger.ts';
import { SESSION_COOKIE } from './till-api.ts';

/** What the kiosk learns of a tap at its till, beyond what the reader is told. */
export interface TillTapEvent {
  type: 'tap';
  decision: Decision;
  /** The child, when the card is known: for the result screen. */
  child?: { account_id: string; first_name: string; last_name: string; photo: string | null; balance_ore: number };
  /** allergen_check: the child's allergens in the basket, and the basket staff are asked about. */
  allergens?: string[];
  basket_id?: string;
  /** A balance check (empty basket): the child's paid orders to hand out here. */
  preorders?: Preorder[];
}
export type TillEvent =
  | TillTapEvent
  | { type: 'hello'; till_id: string; staff_name: string; reader: ReaderState; central: CentralState }
  | { type: 'reader'; reader: ReaderState }
  | { type: 'central'; central: CentralState };

export interface ReaderState {
  reader_id: string | null;
  state: 'online' | 'offline' | 'none';
}
export interface CentralState {
  /** `not_configured` on a site not linked to central; sales go on in every state. */
  state: 'online' | 'offline' | 'not_configured';
}

// A kiosk per till and perhaps a second screen: more sockets than this per till is a leak.
const SOCKETS_PER_TILL_MAX = 8;

/**
 * Live updates for the kiosk over a WebSocket at `/api/tills/:till/live` (staff session needed):
 * every decision at that till with the child's name, photo and balance, the reader's state and
 * the state of the link to central.
 */
export function registerKioskLive(app: FastifyInstance, gateway: Gateway): void {
  const sockets = new Map<string, Set<{ send(data: string): void; close(code?: number, reason?: string): void }>>();
  const send = (tillId: string, event: TillEvent) => {
    const data = JSON.stringify(event);
    for (const ws of sockets.get(tillId) ?? []) ws.send(data);
  };

  const readerOf = (tillId: string): ReaderState => {
    const reader = gateway.ledger.listReaders().find((r) => r.till_id === tillId && !r.revoked_at);
    if (!reader) return { reader_id: null, state: 'none' };
    return { reader_id: reader.id, state: gateway.readers.get(reader.id)?.state === 'online' ? 'online' : 'offline' };
  };

  gateway.on('decided', (decided: Decided) => {
    const { decision } = decided;
    if (decided.replay || !decision.till_id) return;
    const tillId = decision.till_id;
    if (!sockets.get(tillId)?.size) return;
    const event: TillTapEvent = { type: 'tap', decision };
    const child = decided.account_id ? gateway.ledger.getAccountCard(decided.account_id) : undefined;
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
      const basket = gateway.ledger.getBasket(tillId);
      if (basket) event.basket_id = basket.basket_id;
    }
    if (decision.outcome === 'balance' && child) {
      const till = gateway.ledger.getTill(tillId);
      if (till) event.preorders = gateway.ledger.openPreorders(child.id, till.place_id);
    }
    send(tillId, event);
  });
  gateway.on('central', (central) => {
    for (const tillId of sockets.keys()) send(tillId, { type: 'central', central });
  });
  gateway.on('reader', (status) => {
    const reader = gateway.ledger.listReaders().find((r) => r.id === status.reader_id);
    if (reader?.till_id) send(reader.till_id, { type: 'reader', reader: readerOf(reader.till_id) });
  });

  app.get('/api/tills/:till/live', { websocket: true }, (socket, req) => {
    const tillId = String((req.params as { till?: unknown }).till ?? '');
    const session = gateway.staff.get(req.cookies[SESSION_COOKIE]);
    if (!session || session.till_id !== tillId) {
      socket.close(4401, 'not_logged_in');
      return;
    }
    const set = sockets.get(tillId) ?? new Set();
    if (set.size >= SOCKETS_PER_TILL_MAX) {
      socket.close(4429, 'too many screens on this till');
      return;
    }
    set.add(socket);
    sockets.set(tillId, set);
    socket.on('close', () => set.delete(socket));
    socket.send(
      JSON.stringify({
        type: 'hello',
        till_id: tillId,
        staff_name: session.staff_name,
        reader: readerOf(tillId),
        central: gateway.central,
      } satisfies TillEvent),
    );
  });
}
