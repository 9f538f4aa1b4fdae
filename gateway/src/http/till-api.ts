import {
  BasketRequest,
  ConfirmAllergens,
  check,
  codes,
  DecisionsQuery,
  KantineError,
  KioskMenuBody,
  LocalDate,
  LoginRequest,
  PreorderParams,
  type ReaderStatus,
  ReportQuery,
  TillParams,
  VoidRequest,
} from '@kantine/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import Type from 'typebox';
import type { Clock } from '../clock.ts';
import type { GatewayConfig } from '../config.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { localDate } from '../ledger/spend-limits.ts';
import { SCREEN_COOKIE, type ScreenKeys } from './screens.ts';
import { fromLoopback } from './server.ts';
import type { StaffSession, StaffSessions } from './staff-sessions.ts';

export const SESSION_COOKIE = 'kantine_till';
/** How far back a till's latest decisions go (the walk over the site's sales is bounded by it). */
const DECISIONS_DAYS = 30;

const PairQuery = Type.Object({ code: Type.String({ minLength: 1, maxLength: 120 }) }, { additionalProperties: false });

/** What the till API needs of the gateway. */
export interface TillApiDeps {
  site: GatewayConfig['site'];
  ledger: Ledger;
  staff: StaffSessions;
  /** Till screens paired by IT: only they (or this machine) see the login screen and may log in. */
  screens: ScreenKeys;
  /** The readers' last reported status, by reader id. */
  readers: ReadonlyMap<string, ReaderStatus>;
  clock: Clock;
  log: Logger;
  /** Sends the outbox to central now (a kiosk's menu), on a linked site. */
  flushLink?: () => void;
}

/**
 * The till API behind the kiosk. Staff log in to one till with their PIN (a session cookie);
 * everything under `/api/tills/:till/` needs a session for that till. Every body, parameter and
 * query is checked against its schema; errors are `{code, message, details}` (http/server.ts).
 */
export function registerTillApi(app: FastifyInstance, deps: TillApiDeps): void {
  const { ledger, staff, log, screens } = deps;
  /** A paired till screen, this machine, or a screen with a staff session: else `screen_not_paired`. */
  const requireScreen = (req: FastifyRequest): void => {
    if (fromLoopback(req)) return;
    if (screens.screen(req.cookies[SCREEN_COOKIE], deps.clock.now())) return;
    if (staff.get(req.cookies[SESSION_COOKIE])) return;
    throw new KantineError('screen_not_paired');
  };
  /** The till in the path, known, and this request's staff session for it. */
  const tillSession = (req: FastifyRequest): { till: string; session: StaffSession } => {
    const { till } = check(TillParams, { till: (req.params as { till?: unknown }).till }, 'invalid_request');
    if (!ledger.catalogue.getTill(till)) throw new KantineError('unknown_till', `no till ${till}`);
    return { till, session: staff.require(req.cookies[SESSION_COOKIE], till) };
  };

  /** The site, its tills, readers and products: for the machine itself or a logged-in till. */
  app.get('/api/site', async (req) => {
    if (!fromLoopback(req) && !staff.get(req.cookies[SESSION_COOKIE])) throw new KantineError('not_logged_in');
    const readers = ledger.readers.listReaders();
    return {
      site: deps.site,
      places: ledger.catalogue.listPlaces(),
      tills: ledger.catalogue.listTills().map((t) => ({
        ...t,
        readers: readers
          .filter((r) => r.till_id === t.id && !r.revoked_at)
          .map((r) => ({ id: r.id, state: deps.readers.get(r.id)?.state ?? 'offline' })),
      })),
      products: ledger.catalogue.listProducts(),
    };
  });

  // ── Logging in ─────────────────────────────────────────────────────────────────────────────

  /**
   * IT pairs a till screen by opening the link `kantine-gateway staff pair-screen` prints on it:
   * the screen gets its cookie and goes on to the kiosk.
   */
  app.get('/api/kiosk/pair', async (req, reply) => {
    const q = check(PairQuery, req.query, 'invalid_request');
    const paired = screens.redeem(q.code, deps.clock.now());
    if (!paired) throw new KantineError('screen_not_paired', 'the pairing link is not valid (expired or not ours)');
    log.info({ screen: paired.name, source: req.ip }, 'till screen paired');
    reply.setCookie(SCREEN_COOKIE, paired.cookie, {
      path: '/',
      httpOnly: true,
      secure: true,
      sameSite: 'strict',
      expires: paired.expires,
    });
    return reply.redirect('/kiosk/');
  });

  /** What the login screen offers: the tills and the names of staff (never their PINs). */
  app.get('/api/kiosk/login-options', async (req) => {
    requireScreen(req);
    const places = new Map(ledger.catalogue.listPlaces().map((p) => [p.id, p]));
    return {
      site: deps.site,
      tills: ledger.catalogue.listTills().map((t) => ({ ...t, place_name: places.get(t.place_id)?.name ?? '' })),
      staff: ledger.staff.listStaff(),
    };
  });

  /** The decline and error texts (Danish, English, what staff can do): one catalogue for all. */
  app.get('/api/kiosk/codes', async (_req, reply) => {
    reply.header('cache-control', 'max-age=300');
    return codes;
  });

  app.post('/api/kiosk/login', async (req, reply) => {
    requireScreen(req);
    const body = check(LoginRequest, req.body, 'invalid_request');
    const session = await staff.login(body.till_id, body.staff_id, body.pin, req.ip).catch((err: unknown) => {
      // Wrong PINs and locks are logged with where they came from (never the PIN): a screen
      // guessing shows up in the logs before it is slowed down for long.
      if (err instanceof KantineError && (err.code === 'wrong_pin' || err.code === 'pin_locked')) {
        log.warn(
          { source: req.ip, till_id: body.till_id, staff_id: body.staff_id, code: err.code },
          'staff login refused',
        );
      }
      throw err;
    });
    log.info({ till_id: session.till_id, staff_id: session.staff_id }, 'staff logged in');
    reply.setCookie(SESSION_COOKIE, session.token, {
      path: '/',
      httpOnly: true,
      secure: true,
      sameSite: 'strict',
      expires: new Date(session.expires_at),
    });
    return { till_id: session.till_id, staff_id: session.staff_id, staff_name: session.staff_name };
  });

  app.post('/api/kiosk/logout', async (req, reply) => {
    staff.logout(req.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send();
  });

  // ── One till (a session for it needed) ─────────────────────────────────────────────────────

  app.get('/api/tills/:till/session', async (req) => {
    const { session } = tillSession(req);
    return { till_id: session.till_id, staff_id: session.staff_id, staff_name: session.staff_name };
  });

  app.get('/api/tills/:till/catalogue', async (req) => {
    const { till } = tillSession(req);
    const t = ledger.catalogue.getTill(till);
    const place = t ? ledger.catalogue.getPlace(t.place_id) : undefined;
    return { till: t, place, products: ledger.catalogue.listProducts(place?.id) };
  });

  app.get('/api/tills/:till/basket', async (req, reply) => {
    const basket = ledger.baskets.getBasket(tillSession(req).till);
    if (!basket) return reply.status(204).send();
    return basket;
  });

  app.put('/api/tills/:till/basket', async (req) => {
    const { till } = tillSession(req);
    const body = check(BasketRequest, req.body, 'invalid_request');
    return ledger.baskets.setBasket(till, body.lines, body.standing ?? false);
  });

  app.delete('/api/tills/:till/basket', async (req, reply) => {
    ledger.baskets.clearBasket(tillSession(req).till);
    return reply.status(204).send();
  });

  app.post('/api/tills/:till/basket/confirm-allergens', async (req, reply) => {
    const { till, session } = tillSession(req);
    const body = check(ConfirmAllergens, req.body, 'invalid_request');
    if (!ledger.baskets.confirmAllergens(till, body.basket_id, body.account_id)) {
      throw new KantineError('not_found', 'the basket has changed; check it again');
    }
    log.info({ till_id: till, staff_id: session.staff_id, account_id: body.account_id }, 'allergen confirmed');
    return reply.status(204).send();
  });

  app.get('/api/tills/:till/last-sale', async (req, reply) => {
    const sale = ledger.entries.lastSale(tillSession(req).till);
    if (!sale) return reply.status(204).send();
    return sale;
  });

  app.post('/api/tills/:till/void', async (req) => {
    const { till, session } = tillSession(req);
    const body = check(VoidRequest, req.body, 'invalid_request');
    const entryId = body.entry_id ?? ledger.entries.lastSale(till)?.entry_id;
    if (!entryId) throw new KantineError('sale_not_found', 'no sale today at this till');
    const voided = ledger.entries.voidSale({
      till_id: till,
      entry_id: entryId,
      reason: body.reason,
      staff_id: session.staff_id,
    });
    deps.flushLink?.(); // the void is in the outbox: on its way to central now, as a sale is
    log.info(
      { till_id: till, staff_id: session.staff_id, sale_entry_id: entryId, void_entry_id: voided.entry_id },
      'sale voided',
    );
    return voided;
  });

  app.get('/api/tills/:till/report', async (req) => {
    const { till } = tillSession(req);
    const q = check(ReportQuery, req.query, 'invalid_request');
    return ledger.reports.tillReport(till, q.date ?? localDate(deps.clock.now()));
  });

  app.post('/api/tills/:till/preorders/:id/hand-out', async (req) => {
    const { till, session } = tillSession(req);
    const { id } = check(PreorderParams, req.params, 'invalid_request');
    const handed = ledger.preorders.handOutPreorder(id, till, session.staff_id);
    deps.flushLink?.();
    return handed;
  });

  // — webshop —
  /** Canteen staff make (or replace) the menu of this till's place for a date: sent up to central. */
  app.put('/api/tills/:till/menus/:date', async (req, reply) => {
    const { till, session } = tillSession(req);
    const { date } = check(
      Type.Object({ date: LocalDate }),
      { date: (req.params as { date?: unknown }).date },
      'invalid_request',
    );
    const body = check(KioskMenuBody, req.body, 'invalid_request');
    const placeId = ledger.catalogue.getTill(till)?.place_id as string;
    const menu = ledger.preorders.sendMenu(placeId, date, body);
    deps.flushLink?.();
    log.info({ till_id: till, staff_id: session.staff_id, date, items: menu.items.length }, 'webshop menu sent');
    return reply.status(202).send({ menu });
  });

  /** shopfix: what became of the menu this till's place sent for a date (404 when none was sent from here). */
  app.get('/api/tills/:till/menus/:date', async (req) => {
    const { till } = tillSession(req);
    const { date } = check(
      Type.Object({ date: LocalDate }),
      { date: (req.params as { date?: unknown }).date },
      'invalid_request',
    );
    const placeId = ledger.catalogue.getTill(till)?.place_id as string;
    const status = ledger.preorders.menuStatus(placeId, date);
    if (!status) throw new KantineError('not_found', `no menu sent for ${date}`);
    return status;
  });

  /** The kitchen's list of paid orders for this till's place on a date (default today). */
  app.get('/api/tills/:till/preorders', async (req) => {
    const { till } = tillSession(req);
    const q = check(ReportQuery, req.query, 'invalid_request');
    const placeId = ledger.catalogue.getTill(till)?.place_id as string;
    return ledger.preorders.dayList(placeId, q.date ?? localDate(deps.clock.now()));
  });

  /**
   * The till's latest decisions of the last 30 days, newest first: names and balances, so behind
   * the staff login. Older ones are in the day reports.
   */
  app.get('/api/tills/:till/decisions', async (req) => {
    const { till } = tillSession(req);
    const q = check(DecisionsQuery, req.query, 'invalid_request');
    const since = new Date(deps.clock.now().getTime() - DECISIONS_DAYS * 86_400_000).toISOString();
    return ledger.taps.recentDecisions(till, q.limit ? Number(q.limit) : 20, since);
  });
}
