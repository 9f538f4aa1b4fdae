import { randomUUID } from 'node:crypto';
import type { PersonActor } from '@kantine/central';
import { codes, ID_PATTERN, KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dictionary } from '../dictionary/da.ts';
import type { Lang } from '../language.ts';
import { formatOre } from '../money.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';

// ── What the pages need of central's webshop (its contract: /work/wt/_notes/webshop-api.md) ──

export interface ShopMenuItem {
  product_id: string;
  name: string;
  price_ore: number;
  category: string;
  allergens: string[];
  cap: number | null;
  /** Left to order under the cap; null without a cap. */
  remaining: number | null;
  /** What the till would say for this item and this child (a till code), or null. */
  refusal: string | null;
  /** The child's allergies in the item. */
  allergens_hit: string[];
}

export interface ShopMenu {
  site_id: string;
  place_id: string;
  place_name: string;
  place_kind: string;
  date: string;
  order_deadline: string;
  cancel_deadline: string;
  /** Before the order deadline. */
  open: boolean;
  items: ShopMenuItem[];
}

export type OrderState = 'awaiting_payment' | 'paid' | 'handed_out' | 'cancelled' | 'refunded';
export type Payment = 'canteen_card' | 'bank_card';

export interface ShopOrder {
  id: string;
  account_id: string;
  site_id: string;
  place_id: string;
  place_name: string;
  date: string;
  lines: { product_id: string; name: string; quantity: number; unit_price_ore: number }[];
  total_ore: number;
  payment: Payment;
  state: OrderState;
  cancel_reason: string | null;
  not_collected: boolean;
  order_deadline: string;
  cancel_deadline: string;
  cancellable: boolean;
  created_at: string;
  payment_url: string | null;
}

export interface PlaceOrder {
  id: string;
  site_id: string;
  place_id: string;
  date: string;
  lines: { product_id: string; quantity: number }[];
  payment: Payment;
  confirm_allergens: boolean;
  /** Where the provider sends the browser back (a bank card). */
  return_url: string;
}

/**
 * The webshop as the pages use it: central's webshop service behind it (wired in portal.ts). Every
 * call is the person's (a relation without the guardian's permission is refused there with
 * `webshop_relation_not_allowed`; an account or order not theirs is `not_found`).
 */
export interface Shop {
  menus(actor: PersonActor, account: string): Promise<ShopMenu[]>;
  place(actor: PersonActor, account: string, order: PlaceOrder): Promise<ShopOrder>;
  /** A dry run of placing: throws the refusal placing would give (the till's codes), books nothing. */
  check(actor: PersonActor, account: string, order: Omit<PlaceOrder, 'id' | 'return_url'>): Promise<void>;
  orders(actor: PersonActor, account: string): Promise<ShopOrder[]>;
  order(actor: PersonActor, account: string, id: string): Promise<ShopOrder>;
  cancel(actor: PersonActor, account: string, id: string): Promise<ShopOrder>;
  /** The child's relations who have signed in, and whether each may use the webshop (a guardian's). */
  relations(actor: PersonActor, account: string): Promise<{ person_id: string; name: string; allowed: boolean }[]>;
  /** A guardian lets a relation use the webshop for the child, or no longer (`not_found`: no such relation). */
  allowRelation(actor: PersonActor, account: string, person: string, allowed: boolean): Promise<void>;
}

// ── Words and numbers as the pages show them ──

const ZONE = 'Europe/Copenhagen';
const LOCALE: Record<Lang, string> = { da: 'da-DK', en: 'en-GB' };

/** `2026-12-08` → "tirsdag 8. december" (the menu's date is the site's local date). */
export function dayLabel(date: string, lang: Lang): string {
  const at = new Date(`${date}T12:00:00Z`);
  return new Intl.DateTimeFormat(LOCALE[lang], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    timeZone: 'UTC',
  }).format(at);
}

/** A deadline (RFC 3339) at the site: "tirsdag 8. december kl. 09.00". */
export function deadlineLabel(at: string, lang: Lang): string {
  const d = new Date(at);
  const day = new Intl.DateTimeFormat(LOCALE[lang], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    timeZone: ZONE,
  }).format(d);
  const time = new Intl.DateTimeFormat(LOCALE[lang], { hour: '2-digit', minute: '2-digit', timeZone: ZONE }).format(d);
  return lang === 'da' ? `${day} kl. ${time}` : `${day} at ${time}`;
}

/** An allergen's name in the page's language (the codes the products and the children share). */
function allergenName(t: Dictionary, code: string): string {
  return (t.allergen as Record<string, string>)[code] ?? code;
}

/** What the till would say (the code's text in the page's language). */
function reasonOf(code: string, lang: Lang): string {
  const info = (codes as Record<string, { da: string; en: string }>)[code];
  return info ? info[lang] : code;
}

const TONE: Record<OrderState, string> = {
  awaiting_payment: 'warning',
  paid: 'ok',
  handed_out: 'ok',
  cancelled: 'bad',
  refunded: 'bad',
};

/** The most of one item in one order (a cap may allow less). */
const MAX_PER_LINE = 20;
/** The codes an order's refusal comes back with that the basket page explains (the rest are errors). */
const BASKET_REFUSALS = new Set([
  'place_not_allowed',
  'category_not_allowed',
  'limit_exceeded_day',
  'limit_exceeded_week',
  'limit_exceeded_month',
  'insufficient_funds',
  'allergen_check',
  'webshop_order_closed',
  'webshop_not_on_menu',
  'webshop_sold_out',
  'webshop_bank_card_unavailable',
  'funds_held_offline',
]);

/** Refusals that depend on how or when it is paid: the dry run before paying passes over them. */
const PAY_TIME = new Set(['insufficient_funds', 'funds_held_offline', 'webshop_bank_card_unavailable']);
/** A cancel's refusals the order page explains. */
const CANCEL_REFUSALS = new Set(['webshop_cancel_closed', 'webshop_order_state', 'funds_held_offline']);

type Form = Record<string, unknown>;
const field = (body: Form, name: string) => (typeof body[name] === 'string' ? (body[name] as string).trim() : '');

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ID = new RegExp(ID_PATTERN);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A place as a form names it: `site.place` (ids never hold a dot). */
const placeKey = (m: { site_id: string; place_id: string }) => `${m.site_id}.${m.place_id}`;

/** The basket a form holds: `antal_<product>` fields with whole numbers. */
interface Basket {
  menu: ShopMenu;
  lines: { item: ShopMenuItem; quantity: number }[];
  /** Field errors by product id. */
  errors: Record<string, string>;
  /** The quantities as typed (shown again beside an error). */
  typed: Record<string, string>;
}

function basketOf(t: Dictionary, menu: ShopMenu, body: Form): Basket {
  const lines: Basket['lines'] = [];
  const errors: Record<string, string> = {};
  const typed: Record<string, string> = {};
  for (const item of menu.items) {
    const raw = field(body, `antal_${item.product_id}`).slice(0, 10);
    typed[item.product_id] = raw;
    if (raw === '' || raw === '0') continue;
    const max = maxOf(item);
    const n = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > max) {
      errors[item.product_id] = t.webshop.quantity_invalid.replace('{max}', String(max));
      continue;
    }
    if (n > 0) lines.push({ item, quantity: n });
  }
  return { menu, lines, errors, typed };
}

/** The most of an item a basket takes (the cap's remainder); the child's rules are central's to refuse. */
const maxOf = (item: ShopMenuItem) => Math.max(0, Math.min(MAX_PER_LINE, item.remaining ?? MAX_PER_LINE));

/**
 * The webshop (issue 20): a guardian — or a relation the guardian allowed — picks the child's
 * place and a day from the menu, puts items in a basket (a plain form with quantities), sees the
 * child's rules (what the till would refuse, allergies to confirm) and pays by canteen card (paid
 * at once) or bank card (the provider's hosted page, then "Afventer betaling" until central has
 * verified the payment). "Vis ordrer" lists the orders with their states and receipts, and cancels
 * before the cancel deadline. Every page is one of the account's (`:account`); central decides.
 */
export function webshopPages(
  central: PortalServices,
  shop: Shop,
  pages: Pages,
  publicUrl: (req: FastifyRequest) => string,
): PageRoute[] {
  const { views } = central.accounts;

  const childName = async (person: PersonActor, account: string) => {
    const role = person.account_role;
    if (role === null) throw new KantineError('not_found', `no account ${account}`);
    const [o] = await views.overview([{ account_id: account, role }]);
    if (!o) throw new KantineError('not_found', `no account ${account}`);
    return { name: `${o.first_name} ${o.last_name}`, balance_ore: o.balance_ore };
  };

  /** The menu page: the place and the day (a GET form), then that day's menu as a form of quantities. */
  const showMenu = async (
    req: FastifyRequest,
    reply: FastifyReply,
    chosen: { place?: string; date?: string },
    extra: { basket?: Basket; summary?: { field?: string; text: string }[] } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const person = pages.person(req);
    const account = accountParam(req);
    const child = await childName(person, account);
    const menus = await shop.menus(person, account);
    const places: { id: string; label: string; checked: boolean }[] = [];
    for (const m of menus) {
      const id = placeKey(m);
      if (!places.some((p) => p.id === id)) places.push({ id, label: m.place_name, checked: false });
    }
    // The same name at two schools: say which school.
    for (const p of places)
      if (places.filter((q) => q.label === p.label).length > 1) p.label = `${p.label} (${p.id.split('.')[0]})`;
    const place = places.find((p) => p.id === chosen.place) ?? places[0];
    if (place) place.checked = true;
    const ofPlace = menus.filter((m) => placeKey(m) === place?.id).sort((a, b) => a.date.localeCompare(b.date));
    const menu = ofPlace.find((m) => m.date === chosen.date) ?? ofPlace.find((m) => m.open) ?? ofPlace[0] ?? undefined;
    const basket = extra.basket;
    const summary = extra.summary ?? [];
    if (summary.length > 0) reply.status(400);
    return pages.render(req, reply, 'webshop-menu', {
      title: `${t.webshop.title} – ${child.name}`,
      name: child.name,
      intro: t.webshop.intro,
      orders_href: `/konti/${account}/ordrer`,
      relations_href: person.account_role === 'guardian' ? `/konti/${account}/webshop/relationer` : undefined,
      places,
      dates: ofPlace.map((m) => ({
        value: m.date,
        label: m.open ? dayLabel(m.date, lang) : `${dayLabel(m.date, lang)} (${t.webshop.closed_short})`,
        checked: m === menu,
      })),
      basket_action: `/konti/${account}/webshop/kurv`,
      summary,
      menu: menu && {
        heading: t.webshop.menu_heading.replace('{date}', dayLabel(menu.date, lang)),
        place: placeKey(menu),
        date: menu.date,
        closed: !menu.open,
        order_deadline: deadlineLabel(menu.order_deadline, lang),
        cancel_deadline: deadlineLabel(menu.cancel_deadline, lang),
        items: menu.items.map((i) => ({
          id: i.product_id,
          name: i.name,
          price_ore: i.price_ore,
          allergens: i.allergens.map((a) => allergenName(t, a)),
          warning:
            i.refusal !== null
              ? reasonOf(i.refusal, lang)
              : i.allergens_hit.length > 0
                ? t.webshop.allergy_warning.replace(
                    '{allergens}',
                    i.allergens_hit.map((a) => allergenName(t, a).toLowerCase()).join(', '),
                  )
                : undefined,
          refused: i.refusal !== null,
          left: i.remaining,
          // An item the till would refuse is not offered (its reason shows instead).
          max: i.refusal !== null ? 0 : maxOf(i),
          quantity:
            basket?.typed[i.product_id] ??
            String(basket?.lines.find((l) => l.item.product_id === i.product_id)?.quantity ?? 0),
          error: basket?.errors[i.product_id],
        })),
      },
    });
  };

  /** The menu a form names (its place and day), or not_found. */
  const menuOf = async (person: PersonActor, account: string, body: Form) => {
    const place = field(body, 'sted');
    const date = field(body, 'dato');
    const [site_id, place_id] = place.split('.');
    if (!site_id || !place_id || !ID.test(site_id) || !ID.test(place_id) || !DATE.test(date))
      throw new KantineError('invalid_request', 'sted and dato name a menu');
    const menu = (await shop.menus(person, account)).find(
      (m) => m.site_id === site_id && m.place_id === place_id && m.date === date,
    );
    if (!menu) throw new KantineError('not_found', `no menu for ${place} on ${date}`);
    return menu;
  };

  /** The basket page: lines, total, the child's rules, and how to pay. */
  const showBasket = async (
    req: FastifyRequest,
    reply: FastifyReply,
    basket: Basket,
    extra: { refusal?: KantineError; errors?: Record<string, string>; payment?: string; order_id?: string } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const person = pages.person(req);
    const account = accountParam(req);
    const child = await childName(person, account);
    const { menu } = basket;
    const total = basket.lines.reduce((s, l) => s + l.quantity * l.item.price_ore, 0);
    const hits = [...new Set(basket.lines.flatMap((l) => l.item.allergens_hit))];
    const rules: { kind: 'refused' | 'warning'; code: string; reason: string; detail?: string }[] = [];
    for (const l of basket.lines)
      if (l.item.refusal !== null)
        rules.push({
          kind: 'refused',
          code: l.item.refusal,
          reason: reasonOf(l.item.refusal, lang),
          detail: l.item.name,
        });
    const hitNames = hits.map((a) => allergenName(t, a).toLowerCase()).join(', ');
    if (hits.length > 0)
      rules.push({
        kind: 'warning',
        code: 'allergen_check',
        reason: reasonOf('allergen_check', lang),
        detail: t.webshop.allergy_warning.replace('{allergens}', hitNames),
      });
    const errors = extra.errors ?? {};
    const summary: { field?: string; code?: string; text: string }[] = [];
    const refusal = extra.refusal;
    if (refusal) {
      // A till holding the child's money offline: what the guardian can do about it (shopfix).
      const held =
        refusal.code === 'funds_held_offline'
          ? refusal.details.includes('limit')
            ? t.shopfix_orders.held_limit
            : t.shopfix_orders.held_balance
          : undefined;
      summary.push({ code: refusal.code, text: held ?? reasonOf(refusal.code, lang) });
      if (
        !rules.some((r) => r.code === refusal.code) &&
        refusal.code !== 'allergen_check' &&
        !PAY_TIME.has(refusal.code)
      )
        rules.unshift({ kind: 'refused', code: refusal.code, reason: reasonOf(refusal.code, lang) });
    }
    for (const [f, text] of Object.entries(errors)) summary.push({ field: f, text });
    if (summary.length > 0) reply.status(refusal && !errors.bekraeft && !errors.betaling ? 409 : 400);
    const refused = rules.some((r) => r.kind === 'refused' && !PAY_TIME.has(r.code));
    const payment = extra.payment;
    return pages.render(req, reply, 'webshop-basket', {
      title: `${t.webshop.basket} – ${child.name}`,
      name: child.name,
      summary,
      summary_title: refusal ? t.webshop.refused_title : t.errors.summary,
      errors,
      place: placeKey(menu),
      date: menu.date,
      place_label: menu.place_name,
      date_label: dayLabel(menu.date, lang),
      order_deadline: deadlineLabel(menu.order_deadline, lang),
      cancel_deadline: deadlineLabel(menu.cancel_deadline, lang),
      lines: basket.lines.map((l) => ({
        id: l.item.product_id,
        name: l.item.name,
        allergens: l.item.allergens.map((a) => allergenName(t, a)),
        quantity: l.quantity,
        price_ore: l.item.price_ore,
        amount_ore: l.quantity * l.item.price_ore,
      })),
      total_ore: total,
      change_href: `/konti/${account}/webshop?${new URLSearchParams({ sted: placeKey(menu), dato: menu.date })}`,
      rules,
      can_pay: !refused && menu.open,
      order_action: `/konti/${account}/webshop/bestil`,
      order_id: extra.order_id ?? randomUUID(),
      allergy_confirm: hits.length > 0 ? t.webshop.allergy_confirm.replace('{allergens}', hitNames) : undefined,
      methods: [
        {
          value: 'kantinekort',
          label: t.webshop.pay_card.replace('{balance}', formatOre(child.balance_ore)),
          hint: t.webshop.pay_card_hint,
          checked: payment === 'kantinekort',
        },
        {
          value: 'betalingskort',
          label: t.webshop.pay_bank,
          hint: t.webshop.pay_bank_hint,
          checked: payment === 'betalingskort',
        },
      ],
      pay_label: t.webshop.pay.replace('{total}', formatOre(total)),
    });
  };

  const orderView = (t: Dictionary, lang: Lang, o: ShopOrder) => ({
    id: o.id,
    state: o.state,
    state_label:
      o.cancel_reason === 'expired' && o.state === 'cancelled'
        ? t.shopfix_orders.expired
        : o.cancel_reason === 'expired' && o.state === 'refunded'
          ? t.shopfix_orders.expired_refunded
          : t.orders.states[o.state],
    state_tone: TONE[o.state],
    place_label: o.place_name,
    date_label: dayLabel(o.date, lang),
    method_label: o.payment === 'canteen_card' ? t.orders.method_card : t.orders.method_bank,
    placed_label: deadlineLabel(o.created_at, lang),
    cancel_deadline: o.state === 'paid' ? deadlineLabel(o.cancel_deadline, lang) : '',
    pay_by: o.state === 'awaiting_payment' ? deadlineLabel(o.order_deadline, lang) : '',
    can_cancel: o.cancellable,
    cancel_text:
      o.state === 'awaiting_payment'
        ? t.orders.cancel_text_pending
        : o.payment === 'canteen_card'
          ? t.orders.cancel_text_card
          : t.orders.cancel_text_bank,
    pay_href: o.state === 'awaiting_payment' ? o.payment_url : null,
    items: o.lines.map((l) => `${l.quantity}× ${l.name}`).join(', '),
    total_ore: o.total_ore,
    lines: o.lines.map((l) => ({
      name: l.name,
      quantity: l.quantity,
      price_ore: l.unit_price_ore,
      amount_ore: l.quantity * l.unit_price_ore,
    })),
  });

  const orderParam = (req: FastifyRequest) => {
    const id = (req.params as Record<string, unknown>).order;
    if (typeof id !== 'string' || !(UUID.test(id) || ID.test(id))) throw new KantineError('not_found', 'no such order');
    return id;
  };

  const showOrder = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { besked?: unknown; error?: string } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const person = pages.person(req);
    const account = accountParam(req);
    const child = await childName(person, account);
    const id = orderParam(req);
    const order = await shop.order(person, account, id);
    if (extra.error) reply.status(409);
    return pages.render(req, reply, 'webshop-order', {
      title: `${t.orders.order_title} – ${child.name}`,
      name: child.name,
      order: orderView(t, lang, order),
      message:
        extra.besked === 'bestilt'
          ? order.state === 'paid'
            ? t.orders.paid_done
            : t.orders.placed_done
          : extra.besked === 'annulleret'
            ? t.orders.cancelled_done
            : undefined,
      error: extra.error,
      refresh_href: `/konti/${account}/ordrer/${order.id}`,
      cancel_action: `/konti/${account}/ordrer/${order.id}/annuller`,
      orders_href: `/konti/${account}/ordrer`,
      shop_href: `/konti/${account}/webshop`,
    });
  };

  const showRelations = async (
    req: FastifyRequest,
    reply: FastifyReply,
    saved?: { name: string; allowed: boolean },
  ) => {
    const t = pages.dictionary(req);
    const person = pages.person(req);
    const account = accountParam(req);
    const child = await childName(person, account);
    const relations = await shop.relations(person, account);
    return pages.render(req, reply, 'webshop-relations', {
      title: `${t.webshop_relations.title} – ${child.name}`,
      name: child.name,
      message: saved
        ? (saved.allowed ? t.webshop_relations.saved_allowed : t.webshop_relations.saved_revoked).replace(
            '{name}',
            saved.name,
          )
        : undefined,
      relations: relations.map((r) => ({
        ...r,
        action: `/konti/${account}/webshop/relationer/${r.person_id}`,
        button_label: (r.allowed ? t.webshop_relations.revoke_label : t.webshop_relations.allow_label).replace(
          '{name}',
          r.name,
        ),
      })),
      shop_href: `/konti/${account}/webshop`,
    });
  };

  return [
    {
      // Which of the child's relations may use the webshop (off until a guardian allows it).
      method: 'GET',
      url: '/konti/:account/webshop/relationer',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const q = (req.query ?? {}) as Form;
        const person = pages.person(req);
        const account = accountParam(req);
        const who = field(q, 'person');
        const saved =
          (q.besked === 'tilladt' || q.besked === 'fjernet') && who
            ? (await shop.relations(person, account)).find((r) => r.person_id === who)
            : undefined;
        return showRelations(req, reply, saved && { name: saved.name, allowed: q.besked === 'tilladt' });
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/webshop/relationer/:person',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const person = pages.person(req);
        const account = accountParam(req);
        const who = (req.params as Record<string, unknown>).person;
        if (typeof who !== 'string' || !/^[0-9A-Za-z-]{1,64}$/.test(who))
          throw new KantineError('not_found', 'no such relation');
        const allowed = field((req.body ?? {}) as Form, 'tilladt') === 'ja';
        await shop.allowRelation(person, account, who, allowed);
        const q = new URLSearchParams({ besked: allowed ? 'tilladt' : 'fjernet', person: who });
        return reply.redirect(`/konti/${account}/webshop/relationer?${q}`, 303);
      },
    },
    chooser(central, pages, {
      url: '/webshop',
      page: 'webshop',
      roles: ['guardian', 'relation'],
      heading: (t) => t.webshop.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/webshop',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const q = (req.query ?? {}) as Form;
        return showMenu(req, reply, { place: field(q, 'sted'), date: field(q, 'dato') });
      },
    },
    {
      // The basket: what the form of quantities holds, checked against the menu and the child's rules.
      method: 'POST',
      url: '/konti/:account/webshop/kurv',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const person = pages.person(req);
        const account = accountParam(req);
        const body = (req.body ?? {}) as Form;
        const menu = await menuOf(person, account, body);
        const basket = basketOf(t, menu, body);
        const chosen = { place: placeKey(menu), date: menu.date };
        if (Object.keys(basket.errors).length > 0) {
          const summary = Object.entries(basket.errors).map(([id, text]) => ({
            field: `antal-${id}`,
            text: `${menu.items.find((i) => i.product_id === id)?.name}: ${text}`,
          }));
          return showMenu(req, reply, chosen, { basket, summary });
        }
        if (basket.lines.length === 0)
          return showMenu(req, reply, chosen, { basket, summary: [{ text: t.webshop.basket_empty }] });
        // The child's rules for the whole basket before paying (the day's limits, a cap): a dry run.
        // What depends on how it is paid (the balance) or on the moment (money held by a till) is
        // told when paying.
        if (basket.lines.every((l) => l.item.refusal === null)) {
          try {
            await shop.check(person, account, {
              site_id: menu.site_id,
              place_id: menu.place_id,
              date: menu.date,
              lines: basket.lines.map((l) => ({ product_id: l.item.product_id, quantity: l.quantity })),
              payment: 'bank_card',
              confirm_allergens: true,
            });
          } catch (err) {
            if (err instanceof KantineError && BASKET_REFUSALS.has(err.code) && !PAY_TIME.has(err.code))
              return showBasket(req, reply, basket, { refusal: err });
            if (!(err instanceof KantineError && PAY_TIME.has(err.code))) throw err;
          }
        }
        return showBasket(req, reply, basket);
      },
    },
    {
      // Pay: the order is placed at central (canteen card: paid at once; bank card: to the provider).
      method: 'POST',
      url: '/konti/:account/webshop/bestil',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const person = pages.person(req);
        const account = accountParam(req);
        const body = (req.body ?? {}) as Form;
        const menu = await menuOf(person, account, body);
        const basket = basketOf(t, menu, body);
        if (Object.keys(basket.errors).length > 0 || basket.lines.length === 0)
          throw new KantineError('invalid_request', 'the basket holds no whole quantities');
        const id = field(body, 'ordre_id');
        if (!UUID.test(id)) throw new KantineError('invalid_request', 'ordre_id is a UUID');
        const method = field(body, 'betaling');
        const confirmed = field(body, 'bekraeft_allergi') === 'ja';
        const errors: Record<string, string> = {};
        if (method !== 'kantinekort' && method !== 'betalingskort') errors.betaling = t.webshop.pay_missing;
        const hits = basket.lines.some((l) => l.item.allergens_hit.length > 0);
        if (hits && !confirmed) errors.bekraeft = t.webshop.allergy_confirm_missing;
        if (Object.keys(errors).length > 0)
          return showBasket(req, reply, basket, { errors, payment: method, order_id: id });
        let order: ShopOrder;
        try {
          order = await shop.place(person, account, {
            id,
            site_id: menu.site_id,
            place_id: menu.place_id,
            date: menu.date,
            lines: basket.lines.map((l) => ({ product_id: l.item.product_id, quantity: l.quantity })),
            payment: method === 'kantinekort' ? 'canteen_card' : 'bank_card',
            confirm_allergens: confirmed,
            return_url: `${publicUrl(req)}/konti/${account}/ordrer/${id}`,
          });
        } catch (err) {
          if (err instanceof KantineError && BASKET_REFUSALS.has(err.code))
            return showBasket(req, reply, basket, { refusal: err, payment: method });
          throw err;
        }
        if (order.state === 'awaiting_payment' && order.payment_url) return reply.redirect(order.payment_url, 303);
        return reply.redirect(`/konti/${account}/ordrer/${order.id}?besked=bestilt`, 303);
      },
    },
    chooser(central, pages, {
      url: '/ordrer',
      page: 'ordrer',
      roles: ['guardian', 'relation'],
      heading: (t) => t.orders.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/ordrer',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const lang = pages.lang(req);
        const person = pages.person(req);
        const account = accountParam(req);
        const child = await childName(person, account);
        const orders = await shop.orders(person, account);
        return pages.render(req, reply, 'webshop-orders', {
          title: `${t.orders.title} – ${child.name}`,
          name: child.name,
          shop_href: `/konti/${account}/webshop`,
          orders: orders.map((o) => ({ ...orderView(t, lang, o), href: `/konti/${account}/ordrer/${o.id}` })),
        });
      },
    },
    {
      // One order: its receipt and state. Coming back from the provider lands here too; the state
      // is central's (a verified payment), never the return address's query.
      method: 'GET',
      url: '/konti/:account/ordrer/:order',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        return showOrder(req, reply, { besked: (req.query as Form).besked });
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/ordrer/:order/annuller',
      access: { tokens: [], people: ['guardian', 'relation'] },
      handler: async (req, reply) => {
        const person = pages.person(req);
        const account = accountParam(req);
        const id = orderParam(req);
        try {
          await shop.cancel(person, account, id);
        } catch (err) {
          if (err instanceof KantineError && CANCEL_REFUSALS.has(err.code))
            return showOrder(req, reply, { error: reasonOf(err.code, pages.lang(req)) });
          throw err;
        }
        return reply.redirect(`/konti/${account}/ordrer/${id}?besked=annulleret`, 303);
      },
    },
  ];
}
