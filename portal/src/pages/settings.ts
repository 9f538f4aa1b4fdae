import { type Catalogue, PHOTO_UPLOAD_BYTES_MAX } from '@kantine/central';
import { codes, ID_PATTERN, KantineError, type Period, type PlaceKind } from '@kantine/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadedFile } from '../multipart.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';
import { accountParam } from './accounts.ts';
import { chooser } from './choose.ts';

const PLACES: readonly PlaceKind[] = ['school', 'club'];
const PERIODS: readonly Period[] = ['day', 'week', 'month'];
/** The largest limit a form takes (kroner): far above any child's canteen day, below any overflow. */
const LIMIT_KR_MAX = 100_000;

/** Kroner as a Dane types them (`50`, `37,50`, `1.234,5`) in øre, or undefined when it is not an amount. */
export function parseKroner(typed: string): number | undefined {
  const m = /^(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?$/.exec(typed.trim().replace(/\s*kr\.?$/, ''));
  if (!m) return undefined;
  const kr = Number((m[1] as string).replaceAll('.', ''));
  if (kr > LIMIT_KR_MAX) return undefined;
  return kr * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

/** Øre as the form shows them again: `50` or `37,50`. */
function kronerField(ore: number): string {
  return ore % 100 === 0 ? String(ore / 100) : `${Math.trunc(ore / 100)},${String(ore % 100).padStart(2, '0')}`;
}

const SAVED = ['steder', 'graenser', 'tilladelser', 'allergier', 'foto', 'foto-fjernet'] as const;
type Saved = (typeof SAVED)[number];

/**
 * The ids of a list's boxes ticked in a form (`category_mad=on`): only ids on the municipality's
 * list count; a box for anything else is a forged form, refused whole.
 */
function ticked(body: Record<string, unknown>, prefix: string, list: readonly { id: string }[]): string[] {
  const known = new Set(list.map((e) => e.id));
  const out: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!k.startsWith(prefix)) continue;
    const id = k.slice(prefix.length);
    if (!new RegExp(ID_PATTERN).test(id) || !known.has(id) || v !== 'on')
      throw new KantineError('invalid_request', `${k} is not on the list`, [`/${k} is not on the list`]);
    out.push(id);
  }
  return out;
}

/**
 * "Indstillinger" (guardians only), one form per group so that saving one never resets another
 * (the account's PATCH groups): the places the card works at, and the spending limits per day,
 * week and month at school and at the club, the product categories the child may buy (the
 * municipality's list; a box not ticked is denied at the till), the child's allergies (the
 * municipality's allergen list; the till stops a basket that holds one), and the photo the till
 * shows (uploaded, made small and stripped by central's `photoDataUrl`; or removed). Errors are
 * tied to their fields. Automatic top-up is not here.
 */
export function settingsPages(central: PortalServices, pages: Pages): PageRoute[] {
  const { accounts } = central;

  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: {
      saved?: Saved;
      errors?: Record<string, string>;
      typed?: Record<string, string>;
      photo_error?: string;
    } = {},
  ) => {
    const t = pages.dictionary(req);
    const lang = pages.lang(req);
    const id = accountParam(req);
    const account = await accounts.get(id);
    if (!account) throw new KantineError('not_found', `no account ${id}`);
    const list: Catalogue = await central.catalogue.get();
    const errors = extra.errors ?? {};
    const periodText = { day: t.settings.period_day, week: t.settings.period_week, month: t.settings.period_month };
    const limits = PLACES.map((place) => ({
      place,
      label: t.place[place],
      fields: PERIODS.map((period) => {
        const name = `limit_${place}_${period}`;
        const now = account.limits.find((l) => l.place_kind === place && l.period === period);
        return {
          name,
          label: periodText[period],
          full_label: t.settings.limit_label.replace('{place}', t.place[place]).replace('{period}', periodText[period]),
          value: extra.typed?.[name] ?? (now ? kronerField(now.limit_ore) : ''),
          error: errors[name],
        };
      }),
    }));
    const summary = limits.flatMap((g) =>
      g.fields.filter((f) => f.error).map((f) => ({ field: f.name, text: `${f.full_label}: ${f.error}` })),
    );
    if (extra.photo_error) summary.push({ field: 'photo', text: `${t.child.photo_label}: ${extra.photo_error}` });
    if (summary.length > 0) reply.status(400);
    const denied = new Set(account.denied_categories);
    const allergic = new Set(account.allergies);
    // Ids an account holds that the list no longer has stay as they are (a form saves only the list's).
    const name = `${account.first_name} ${account.last_name}`;
    return pages.render(req, reply, 'settings', {
      title: `${t.settings.title} – ${name}`,
      name,
      categories: list.categories.map((c) => ({ id: c.id, label: c[lang], checked: !denied.has(c.id) })),
      allergens: list.allergens.map((a) => ({ id: a.id, label: a[lang], checked: allergic.has(a.id) })),
      photo: account.photo,
      photo_alt: t.child.photo_current.replace('{name}', name),
      photo_error: extra.photo_error,
      account: id,
      places: PLACES.map((p) => ({ place: p, label: t.place[p], checked: account.place_kinds.includes(p) })),
      limits,
      summary,
      message: extra.saved === undefined ? undefined : savedText(t, extra.saved),
    });
  };

  const form = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>;

  return [
    chooser(central, pages, {
      url: '/indstillinger',
      page: 'indstillinger',
      roles: ['guardian'],
      heading: (t) => t.settings.title,
    }),
    {
      method: 'GET',
      url: '/konti/:account/indstillinger',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const besked = (req.query as Record<string, unknown>).besked;
        return show(req, reply, SAVED.includes(besked as Saved) ? { saved: besked as Saved } : {});
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/indstillinger/steder',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        const body = form(req);
        await accounts.patch(id, { place_kinds: PLACES.filter((p) => body[`place_${p}`] === 'on') });
        return reply.redirect(`/konti/${id}/indstillinger?besked=steder`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/indstillinger/graenser',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const id = accountParam(req);
        const body = form(req);
        const limits: { place_kind: PlaceKind; period: Period; limit_ore: number }[] = [];
        const errors: Record<string, string> = {};
        const typed: Record<string, string> = {};
        for (const place_kind of PLACES)
          for (const period of PERIODS) {
            const name = `limit_${place_kind}_${period}`;
            const value = typeof body[name] === 'string' ? (body[name] as string).trim().slice(0, 20) : '';
            typed[name] = value;
            if (value === '') continue;
            const ore = parseKroner(value);
            if (ore === undefined) errors[name] = t.settings.amount_invalid;
            else limits.push({ place_kind, period, limit_ore: ore });
          }
        if (Object.keys(errors).length > 0) return show(req, reply, { errors, typed });
        await accounts.patch(id, { limits });
        return reply.redirect(`/konti/${id}/indstillinger?besked=graenser`, 303);
      },
    },
    {
      // Tilladelser: a ticked box allows the category; every category of the list not ticked is denied.
      method: 'POST',
      url: '/konti/:account/indstillinger/tilladelser',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        const { categories } = await central.catalogue.get();
        const allowed = new Set(ticked(form(req), 'category_', categories));
        const account = await accounts.get(id);
        if (!account) throw new KantineError('not_found', `no account ${id}`);
        // Categories off the list that the account denies stay denied (the list may have lost one).
        const listed = new Set(categories.map((c) => c.id));
        const denied = [
          ...account.denied_categories.filter((c) => !listed.has(c)),
          ...categories.filter((c) => !allowed.has(c.id)).map((c) => c.id),
        ];
        await accounts.patch(id, { denied_categories: denied });
        return reply.redirect(`/konti/${id}/indstillinger?besked=tilladelser`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/indstillinger/allergier',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        const { allergens } = await central.catalogue.get();
        const ticks = ticked(form(req), 'allergen_', allergens);
        const account = await accounts.get(id);
        if (!account) throw new KantineError('not_found', `no account ${id}`);
        const listed = new Set(allergens.map((a) => a.id));
        await accounts.patch(id, { allergies: [...account.allergies.filter((a) => !listed.has(a)), ...ticks] });
        return reply.redirect(`/konti/${id}/indstillinger?besked=allergier`, 303);
      },
    },
    {
      // The photo (multipart/form-data): central makes it a small square JPEG without metadata, or
      // refuses it with a code shown beside the field; nothing changes then.
      method: 'POST',
      url: '/konti/:account/indstillinger/foto',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const t = pages.dictionary(req);
        const lang = pages.lang(req);
        const id = accountParam(req);
        const file = form(req).photo as UploadedFile | string | undefined;
        if (typeof file !== 'object' || file.bytes.length === 0)
          return show(req, reply, { photo_error: t.child.photo_missing });
        try {
          if (file.bytes.length > PHOTO_UPLOAD_BYTES_MAX) throw new KantineError('photo_too_large');
          // The upload's bytes as they came: central's account service decodes and re-makes them
          // (whatever the browser called the file), so the picture is made once.
          const upload = `data:application/octet-stream;base64,${Buffer.from(file.bytes).toString('base64')}`;
          await accounts.patch(id, { photo: upload });
        } catch (err) {
          if (err instanceof KantineError && (err.code === 'photo_invalid' || err.code === 'photo_too_large')) {
            const info = codes[err.code];
            return show(req, reply, {
              photo_error: `${info[lang]}. ${lang === 'da' ? info.action_da : info.action_en}`,
            });
          }
          throw err;
        }
        return reply.redirect(`/konti/${id}/indstillinger?besked=foto`, 303);
      },
    },
    {
      method: 'POST',
      url: '/konti/:account/indstillinger/foto/fjern',
      access: { tokens: [], people: ['guardian'] },
      handler: async (req, reply) => {
        const id = accountParam(req);
        await accounts.patch(id, { photo: null });
        return reply.redirect(`/konti/${id}/indstillinger?besked=foto-fjernet`, 303);
      },
    },
  ];
}

function savedText(t: ReturnType<Pages['dictionary']>, saved: Saved): string {
  switch (saved) {
    case 'steder':
      return t.settings.saved_places;
    case 'graenser':
      return t.settings.saved_limits;
    case 'tilladelser':
      return t.child.saved_permissions;
    case 'allergier':
      return t.child.saved_allergies;
    case 'foto':
      return t.child.saved_photo;
    case 'foto-fjernet':
      return t.child.removed_photo;
  }
}
