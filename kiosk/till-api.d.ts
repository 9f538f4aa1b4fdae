/**
 * The till API as the kiosk sees it: the bodies of the gateway's HTTP routes
 * (gateway/src/http/till-api.ts) and the events on a till's WebSocket (gateway/src/http/kiosk-live.ts).
 * Declarations only: the scripts in kiosk/public take their types from here in JSDoc, and
 * `npm run typecheck` checks them against it. The contract moves into @kantine/protocol later;
 * until then a change to those routes or events changes this file too.
 */

export type Lang = 'da' | 'en';

/** Every refusal of the gateway: a stable code, a message for logs, and what was wrong. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown[];
}

// ── Logging in ──────────────────────────────────────────────────────────────────────────────

/** GET /api/kiosk/codes: the one catalogue of decline and error codes, by code. */
export type Codes = Record<string, CodeText>;
export interface CodeText {
  kind: 'decline' | 'error';
  da: string;
  en: string;
  /** What staff can do about it, in Danish. */
  action_da?: string;
  action_en?: string;
}

/** GET /api/kiosk/login-options: the tills and the names of staff (never their PINs). */
export interface LoginOptions {
  site: { id: string; name: string };
  tills: (Till & { place_name: string })[];
  staff: { id: string; name: string }[];
}

/** POST /api/kiosk/login (the session comes as a cookie). */
export interface LoginRequest {
  till_id: string;
  staff_id: string;
  /** 4 to 8 digits. */
  pin: string;
}

/** POST /api/kiosk/login and GET /api/tills/:till/session: who is logged in to the till. */
export interface StaffSession {
  till_id: string;
  staff_id: string;
  staff_name: string;
}

// ── One till ────────────────────────────────────────────────────────────────────────────────

export interface Place {
  id: string;
  name: string;
  kind: 'school' | 'club';
}
export interface Till {
  id: string;
  place_id: string;
  name: string;
}
export interface Product {
  id: string;
  /** The place that sells it; null: every place of the site. */
  place_id: string | null;
  name: string;
  category: string;
  price_ore: number;
  /** Allergen codes (`gluten`, `maelk`, …), as children's allergies carry them. */
  allergens: string[];
}

/** GET /api/tills/:till/catalogue: what this till sells. */
export interface Catalogue {
  till?: Till;
  place?: Place;
  products: Product[];
}

/** PUT /api/tills/:till/basket: what the basket holds (1 to 99 of a product). */
export interface BasketRequest {
  lines: BasketRequestLine[];
  /** Keep the basket after each sale (self-service). */
  standing?: boolean;
}
export interface BasketRequestLine {
  product_id: string;
  quantity: number;
}

/** A product sold, as a sale, a decision and a pre-order list it. */
export interface SaleLine {
  product_id: string;
  name: string;
  quantity: number;
  unit_price_ore: number;
}

/** PUT and GET /api/tills/:till/basket (GET: 204 when the till has none): the basket waiting for a tap. */
export interface Basket {
  till_id: string;
  basket_id: string;
  lines: (SaleLine & { category: string; allergens: string[] })[];
  total_ore: number;
  standing: boolean;
  /** The account staff confirmed this basket for despite an allergen in it. */
  allergens_confirmed_for: string | null;
  created_at: string;
}

/** POST /api/tills/:till/basket/confirm-allergens (204): staff sell this basket to this child anyway. */
export interface ConfirmAllergensRequest {
  basket_id: string;
  account_id: string;
}

/** GET /api/tills/:till/last-sale (204 when there is none): today's last sale that can be voided. */
export interface LastSale {
  entry_id: string;
  /** What the child paid, in øre. */
  amount_ore: number;
  first_name: string;
  /** RFC 3339 time of the sale. */
  at: string;
}

/** POST /api/tills/:till/void: a sale to void (default: the last) and why. */
export interface VoidRequest {
  entry_id?: string;
  /** 3 to 200 characters. */
  reason: string;
}
/** The void's own ledger entry: the money given back to the account. */
export interface Voided {
  entry_id: string;
  account_id: string;
  amount_ore: number;
  balance_ore: number;
}

/** GET /api/tills/:till/report: one till's day. Amounts in øre. */
export interface TillReport {
  till_id: string;
  /** The local date (Europe/Copenhagen), YYYY-MM-DD. */
  date: string;
  products: { product_id: string; name: string; quantity: number; total_ore: number }[];
  sales: { count: number; total_ore: number };
  voids: {
    entry_id: string;
    voids_entry_id: string;
    amount_ore: number;
    reason: string;
    staff_id: string | null;
    at: string;
  }[];
  voids_total_ore: number;
  /** Sales less voids: what the till took. */
  net_ore: number;
  declines: { code: string; count: number }[];
}

/** A paid webshop order to hand out; POST /api/tills/:till/preorders/:id/hand-out answers with it. */
export interface Preorder {
  id: string;
  account_id: string;
  place_id: string;
  lines: SaleLine[];
  total_ore: number;
  for_date: string;
  state: 'paid' | 'handed_out';
  handed_out_at: string | null;
  handed_out_by: string | null;
}

// ── The till's WebSocket: GET /api/tills/:till/live ───────────────────────────────────────────

/**
 * The gateway's answer to a tap (protocol's `Decision`), with what the ledger always sets for
 * each outcome: an approved sale has its amount, lines and new balance; a declined tap its code.
 */
export type Decision = DecisionCommon &
  (
    | { outcome: 'approved'; amount_ore: number; balance_ore: number; lines: SaleLine[]; entry_id: string }
    | { outcome: 'balance'; balance_ore: number }
    | { outcome: 'declined'; code: string }
  );
interface DecisionCommon {
  v: 1;
  tap_id: string;
  reader_id: string;
  /** Why the tap was declined. */
  code?: string;
  till_id?: string;
  /** Approved: charged; declined: asked, in øre. */
  amount_ore?: number;
  /** The account balance after this decision, in øre. */
  balance_ore?: number;
  first_name?: string;
  /** The kind of card read; `legacy` (UID-only) cards are weaker and should be replaced. */
  card_kind?: 'legacy' | 'ntag424';
  /** limit_exceeded_*: the spend limit of that period at this kind of place, in øre. */
  limit_ore?: number;
  /** limit_exceeded_*: what was already spent in that period, in øre. */
  spent_ore?: number;
  lines?: SaleLine[];
  entry_id?: string;
  decided_at: string;
}

/** A tap at this till, with what the kiosk shows beyond what the reader is told. */
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

export interface ReaderState {
  reader_id: string | null;
  state: 'online' | 'offline' | 'none';
}
export interface CentralState {
  /** `not_configured` on a site not linked to central; sales go on in every state. */
  state: 'online' | 'offline' | 'not_configured';
  /** Changes from central this site could not apply and set aside (an alarm for IT); 0 when none. */
  set_aside?: number;
}

/**
 * Every message on the till's WebSocket; `hello` comes first. The gateway closes it with 4401 when
 * there is no staff session for this till, with 4429 when the till has too many screens.
 */
export type TillEvent =
  | TillTapEvent
  | { type: 'hello'; till_id: string; staff_name: string; reader: ReaderState; central: CentralState }
  | { type: 'reader'; reader: ReaderState }
  | { type: 'central'; central: CentralState };

// — webshop —
/** PUT /api/tills/:till/menus/:date: the place's products on the webshop's menu for a date. */
export interface KioskMenuRequest {
  order_deadline: string;
  cancel_deadline: string;
  items: { product_id: string; cap?: number | null }[];
}
/** The menu as it went up the link to central (202). */
export interface SentMenu {
  place_id: string;
  date: string;
  place_name: string;
  order_deadline: string;
  cancel_deadline: string;
  items: {
    product_id: string;
    name: string;
    price_ore: number;
    category: string;
    allergens: string[];
    cap: number | null;
  }[];
}
/** GET /api/tills/:till/menus/:date (shopfix): the menu sent for the date, and what central said of it. */
export interface KioskMenuStatus {
  date: string;
  items: number;
  /** `sent`: on its way (or central not reached yet); `accepted`: guardians order from it; `refused`: see `code`. */
  state: 'sent' | 'accepted' | 'refused';
  code: string | null;
  /** Central's own words (English), beside the code's texts. */
  message: string | null;
  sent_at: string;
}
/** GET /api/tills/:till/preorders?date=: the kitchen's list of paid orders for the place. */
export interface KitchenList {
  date: string;
  orders: Preorder[];
  counts: { product_id: string; name: string; quantity: number }[];
}
