import { KantineError } from '@kantine/protocol';
import type { Dictionary } from '../dictionary/da.ts';
import type { PageRoute, Pages, PortalServices } from '../portal.ts';

/**
 * A menu entry about one child (`/kontoudtog`, `/kort`): straight to the page of the only child
 * the person may use it for, else a choice between them. Only the children whose role allows the
 * page are offered (a relation is not offered the cards).
 */
export function chooser(
  central: PortalServices,
  pages: Pages,
  opts: { url: string; page: string; roles: readonly ('guardian' | 'relation')[]; heading: (t: Dictionary) => string },
): PageRoute {
  const { views } = central.accounts;
  return {
    method: 'GET',
    url: opts.url,
    access: { tokens: [], people: ['person'] },
    handler: async (req, reply) => {
      const t = pages.dictionary(req);
      const person = pages.person(req);
      const all = await views.accountsOf(person.person_id);
      const mine = all.filter((a) => opts.roles.includes(a.role));
      // Children, but none this page is for (a relation and the cards): a refusal that says why.
      if (all.length > 0 && mine.length === 0) throw new KantineError('scope_denied', `not for your role: ${opts.url}`);
      const accounts = await views.overview(mine);
      const [only] = accounts;
      if (accounts.length === 1 && only) return reply.redirect(`/konti/${only.account_id}/${opts.page}`, 303);
      return pages.render(req, reply, 'choose-account', {
        title: opts.heading(t),
        heading: opts.heading(t),
        accounts: accounts.map((a) => ({
          name: `${a.first_name} ${a.last_name}`,
          href: `/konti/${a.account_id}/${opts.page}`,
        })),
      });
    },
  };
}
