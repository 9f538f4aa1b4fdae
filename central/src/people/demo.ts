import type { Central } from '../central.ts';

/** A demo person as the dev identity provider lists them (`DEMO_PEOPLE` of `@kantine/idp`). */
export interface DemoPersonInput {
  key: string;
  name: string;
  /** Ten digits, no dash (made up). */
  cpr: string;
}

/** A demo child (`DEMO_CHILDREN` of `@kantine/idp`). */
export interface DemoChildInput {
  key: string;
  cpr: string;
}

/**
 * The demo people's places at central, by CPR number as production would have them before anyone
 * signs in: the children's CPR numbers and their guardians' on the children's records (Anne for
 * Emma and Noah, Peter for Freja), Karen a relation of Emma, Lone office staff at the demo school,
 * Jens the municipality's administrator, Mette finance. Each binds when that person signs in
 * through the dev provider. The lists are a parameter (they live in `@kantine/idp`); the
 * children's accounts must exist (`konto-<key>` unless `accountOf` says otherwise).
 */
export async function seedDemoPeople(
  central: Central,
  demo: {
    people: readonly DemoPersonInput[];
    children: readonly DemoChildInput[];
    /** The school whose office Lone works at (default `sondervang`). */
    office_site?: string;
    accountOf?: (childKey: string) => string;
  },
): Promise<void> {
  const { people } = central;
  const cprOf = (list: readonly { key: string; cpr: string }[], key: string): string => {
    const found = list.find((p) => p.key === key);
    if (!found) throw new Error(`seedDemoPeople: no demo entry '${key}'`);
    return found.cpr;
  };
  const person = (key: string) => cprOf(demo.people, key);
  const account = demo.accountOf ?? ((key: string) => `konto-${key}`);
  for (const child of demo.children) await people.setAccountCpr(account(child.key), child.cpr);
  const guardians: Record<string, string[]> = { emma: ['anne'], noah: ['anne'], freja: ['peter'] };
  for (const [child, keys] of Object.entries(guardians)) {
    if (!demo.children.some((c) => c.key === child)) continue;
    await people.setGuardianCprs(account(child), keys.map(person));
  }
  await people.inviteByCpr(account('emma'), person('karen'));
  await people.grantRole(person('lone'), 'office', demo.office_site ?? 'sondervang');
  await people.grantRole(person('jens'), 'admin');
  await people.grantRole(person('mette'), 'finance');
}
