import type { PersonActor } from '@kantine/central';
import { KantineError } from '@kantine/protocol';
import type { PortalServices } from '../portal.ts';
import type { Shop, ShopOrder } from './webshop.ts';

/** The days a guardian sees menus for: today and the next 13 (the contract's default window). */
const DAYS_AHEAD = 13;

function localDay(now: Date, days: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Copenhagen' }).format(
    new Date(now.getTime() + days * 24 * 3600 * 1000),
  );
}

/**
 * Central's webshop service as the pages use it (`Shop`). Central's routes let a guardian or a
 * relation in on the account (the API hook); the webshop is a relation's only where a guardian
 * allowed it, checked here before any call, as central's own webshop routes do.
 */
export function shopOf(central: PortalServices, clock: { now(): Date }): Shop {
  const { webshop } = central;
  const mayUse = async (actor: PersonActor, account: string) => {
    if (actor.account_role === 'guardian') return;
    if (actor.account_role === 'relation' && (await webshop.relationAllowed(account, actor.person_id))) return;
    if (actor.account_role === 'relation') throw new KantineError('webshop_relation_not_allowed');
    throw new KantineError('not_found', `no account ${account}`);
  };
  return {
    async menus(actor, account) {
      await mayUse(actor, account);
      const now = clock.now();
      return webshop.childMenus(account, localDay(now, 0), localDay(now, DAYS_AHEAD));
    },
    async place(actor, account, order) {
      await mayUse(actor, account);
      const { return_url: _return, ...body } = order;
      return (await webshop.place(account, body, { person_id: actor.person_id, name: actor.name })) as ShopOrder;
    },
    async check(actor, account, order) {
      await mayUse(actor, account);
      await webshop.check(account, order);
    },
    async orders(actor, account) {
      await mayUse(actor, account);
      return (await webshop.list(account)) as ShopOrder[];
    },
    async order(actor, account, id) {
      await mayUse(actor, account);
      return (await webshop.get(account, id)) as ShopOrder;
    },
    async cancel(actor, account, id) {
      await mayUse(actor, account);
      return (await webshop.cancel(account, id)) as ShopOrder;
    },
    async relations(actor, account) {
      if (actor.account_role !== 'guardian') throw new KantineError('scope_denied', 'a guardian decides');
      const { people } = await central.people.relations(account);
      return Promise.all(
        people.map(async (p) => ({
          person_id: p.id,
          name: p.name,
          allowed: await webshop.relationAllowed(account, p.id),
        })),
      );
    },
    async allowRelation(actor, account, person, allowed) {
      if (actor.account_role !== 'guardian') throw new KantineError('scope_denied', 'a guardian decides');
      await webshop.setRelation(account, person, allowed, actor.person_id);
    },
  };
}
