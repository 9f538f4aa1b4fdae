import { type Code, codes, KantineError } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';

type Message = 'made' | 'cancelled' | 'resumed' | 'alert' | 'alert_off' | 'waiting' | 'payment_failed';
const MESSAGES: readonly Message[] = [
  'made',
  'cancelled',
  'resumed',
  'alert',
  'alert_off',
  'waiting',
  'payment_failed',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whole kroner as typed (`200`, `1.000`, `200 kr`), in øre; undefined when it is not whole kroner. */
function wholeKroner(typed: string): number | undefined {
  const m = /^(\d{1,3}(?:\.\d{3})+|\d{1,7})(?:,00?)?$/.exec(typed.trim().replace(/\s*kr\.?$/, ''));
  return m ? Number((m[1] as string).replaceAll('.', '')) * 100 : undefined;
}

/**
 * "Automatisk optankning" (guardians only): the agreement's state, amount and card; making one
 * (to the provider's page, where the guardian consents to keeping the card), changing its card in
 * one step, resuming a suspended one, cancelling; the latest top-ups with why they failed; and the
 * guardian's own low-balance alert.
 */
export function autotopupPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { accounts, autotopup } = central;

  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { message?: Message; errors?: Record<string, string>; typed?: Record<string, string> } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const id = accountParam(req);
    const person = pages.person(req);
    const account = await accounts.get(id);
    if (!account) throw new KantineError('not_found', `no account ${id}`);
    const agreement = await autotopup.agreement(id);
    const charges = await autotopup.charges(id, 10);
    const alert = await autotopup.lowBalanceAlert(id, person.person_id);
    const { min_amount_ore, max_amount_ore, max_charges_per_day } = autotopup.config;
    const kr = (ore: number) => String(ore / 100);
    const fill = (s: string) =>
      s
        .replace('{min}', kr(min_amount_ore))
        .replace('{max}', kr(max_amount_ore))
        .replace('{cap}', String(max_charges_per_day));
    const errors = extra.errors ?? {};
    const summary = Object.entries(errors).map(([field, text]) => ({ field, text }));
    if (summary.length > 0) reply.status(400);
    const reasonText = (code: string | null) => {
      const info = code && code in codes ? codes[code as Code] : undefined;
      return info ? (lang === 'en' ? info.en : info.da) : (code ?? '');
    };
    const message = extra.message
      ? {
          made: t.autotopup.made,
          cancelled: t.autotopup.cancelled,
          resumed: t.autotopup.resumed,
          alert: t.autotopup.alert_saved,
          alert_off: t.autotopup.alert_off,
          waiting: t.autotopup.waiting,
          payment_failed: t.autotopup.payment_failed,
        }[extra.message]
      : undefined;
    return pages.render(req, reply, 'autotopup', {
      title: `${t.autotopup.title} – ${account.first_name} ${account.last_name}`,
      name: `${account.first_name} ${account.last_name}`,
      account: id,
      agreement: agreement
        ? {
            state: agreement.state,
            state_text: agreement.state === 'active' ? t.autotopup.state_active : t.autotopup.state_suspended,
            amount_ore: agreement.amount_ore,
            threshold_ore: agreement.threshold_ore,
            card_expiry: agreement.card_expiry.split('-').reverse().join('/'),
            failures: agreement.failures,
          }
        : undefined,
      amount_hint: fill(t.autotopup.amount_hint),
      consent: fill(t.autotopup.consent),
      typed_amount: extra.typed?.amount ?? '',
      typed_alert: extra.typed?.alert ?? (alert === null ? '' : kr(alert)),
      history: charges.map((c) => ({
        when: c.created_at.toLocaleString(lang === 'en' ? 'en-GB' : 'da-DK', {
          timeZone: 'Europe/Copenhagen',
          dateStyle: 'short',
          timeStyle: 'short',
        }),
        amount_ore: c.amount_ore,
        failed: c.state === 'failed',
        result:
          c.state === 'deposited'
            ? t.autotopup.result_deposited
            : c.state === 'pending'
              ? t.autotopup.result_pending
              : reasonText(c.reason),
      })),
      errors,
      summary,
      message,
      message_kind: extra.message === 'payment_failed' ? 'error' : extra.message === 'waiting' ? 'info' : 'success',
    });
  };

  const form = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>;
  const field = (body: Record<string, unknown>, name: string) =>
    typeof body[name] === 'string' ? (body[name] as string).trim().slice(0, 20) : '';
  const base = (id: string) => `/konti/${id}/automatisk-optankning`;

  return [
    chooser(central, pages, {
      url: '/automatisk-optankning',
      page: 'automatisk-optankning',
      roles: ['guardian'],
      heading: (t) => t.autotopup.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/automatisk-optankning',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        const q = req.query as Record<string, unknown>;
        // Back from the provider: the return address proves nothing, so the provider is asked.
        if (typeof q.betaling === 'string' && UUID.test(q.betaling) && central.payments) {
          const intent = await central.payments.get(q.betaling);
          if (intent && intent.account_id === id && intent.purpose === 'agreement') {
            if (intent.state === 'pending' && intent.provider_payment_id)
              await central.payments.settle(intent.provider_payment_id).catch(() => undefined);
            const now = await central.payments.get(intent.id);
            const message: Message =
              now?.state === 'paid'
                ? 'made'
                : now?.state === 'pending' || now?.state === 'created'
                  ? 'waiting'
                  : 'payment_failed';
            return show(req, reply, { message });
          }
        }
        const besked = q.besked;
        return show(req, reply, MESSAGES.includes(besked as Message) ? { message: besked as Message } : {});
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/automatisk-optankning/aftale',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const id = accountParam(req);
        const body = form(req);
        const typed = { amount: field(body, 'amount') };
        const errors: Record<string, string> = {};
        const amount = wholeKroner(typed.amount);
        const { min_amount_ore, max_amount_ore } = autotopup.config;
        if (amount === undefined || amount < min_amount_ore || amount > max_amount_ore)
          errors.amount = t.autotopup.amount_invalid
            .replace('{min}', String(min_amount_ore / 100))
            .replace('{max}', String(max_amount_ore / 100));
        if (body.consent !== 'on') errors.consent = t.autotopup.consent_missing;
        if (Object.keys(errors).length > 0) return show(req, reply, { errors, typed });
        const started = await autotopup.startCheckout({
          account_id: id,
          person_id: pages.person(req).person_id,
          amount_ore: amount as number,
        });
        return reply.redirect(started.checkout_url, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/automatisk-optankning/kort',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        if (!(await autotopup.agreement(id))) throw new KantineError('autotopup_no_agreement');
        const started = await autotopup.startCheckout({ account_id: id, person_id: pages.person(req).person_id });
        return reply.redirect(started.checkout_url, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/automatisk-optankning/genoptag',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        await autotopup.resume(id);
        return reply.redirect(`${base(id)}?besked=resumed`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/automatisk-optankning/opsig',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        await autotopup.cancel(id);
        return reply.redirect(`${base(id)}?besked=cancelled`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/automatisk-optankning/lav-saldo',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const id = accountParam(req);
        const typed = { alert: field(form(req), 'alert') };
        const ore = typed.alert === '' ? null : wholeKroner(typed.alert);
        if (ore === undefined || (ore !== null && (ore < 100 || ore > 100_000)))
          return show(req, reply, { errors: { alert: t.autotopup.alert_invalid }, typed });
        await autotopup.setLowBalanceAlert(id, pages.person(req).person_id, ore);
        return reply.redirect(`${base(id)}?besked=${ore === null ? 'alert_off' : 'alert'}`, 303);
      },
    },
  ];
}
