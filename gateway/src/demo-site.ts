import { createHash } from 'node:crypto';
import type { Central } from '@kantine/central';
import type { Ledger } from './ledger.ts';

/**
 * The demo site: one school canteen with one till and a few products, linked to a demo central
 * with four children, their money, and the cards that show every answer a till can give.
 */
export const demoSite = { id: 'soendervang', name: 'Søndervang Skole' };
export const demoTill = { id: 'kasse-1', place_id: 'kantinen', name: 'Kasse 1' };
export const demoReaderId = 'kasse-1-laeser';

export const demoProducts = [
  { key: '1', id: 'ostehoeps', name: 'Ostehøps', category: 'mad', price_ore: 300, allergens: ['maelk', 'gluten'] },
  { key: '2', id: 'yoghurt', name: 'Yoghurt', category: 'mad', price_ore: 600, allergens: ['maelk'] },
  { key: '3', id: 'stor-grovbolle', name: 'Stor Grovbolle', category: 'mad', price_ore: 500, allergens: ['gluten'] },
  { key: '4', id: 'frugt', name: 'Frugt', category: 'mad', price_ore: 200, allergens: [] },
  { key: '5', id: 'kakaomaelk', name: 'Kakaomælk', category: 'drikke', price_ore: 700, allergens: ['maelk'] },
  { key: '6', id: 'vand', name: 'Vand', category: 'drikke', price_ore: 500, allergens: [] },
  { key: '7', id: 'noeddebar', name: 'Nøddebar', category: 'mad', price_ore: 1_000, allergens: ['noedder'] },
  { key: '8', id: 'chokolade', name: 'Chokolade', category: 'slik', price_ore: 800, allergens: ['maelk'] },
] as const;

/** Canteen staff who log in to the kiosk. Demo PINs, printed at start. */
export const demoStaff = [
  { id: 'anne', name: 'Anne', pin: '1234' },
  { id: 'karim', name: 'Karim', pin: '5678' },
] as const;

export interface DemoCard {
  key: string;
  uid: string;
  label: string;
  /** A kantine card (NTAG 424 DNA twin, proves itself with SUN) or a UID-only card of today. */
  kind: 'ntag424' | 'legacy';
  account_id?: string;
  /** Registered on the site under this kind; a clone is a card pretending to be another. */
  registered?: boolean;
}

/**
 * The demo's card batch. Its master keys are made from public text: demo only, never for real
 * cards (real batches get random keys from provisioning).
 */
export const demoBatch = {
  id: 'DEMO-1',
  urlBase: 'https://kort.kantine.example/t',
  keys: {
    appMaster: createHash('sha256').update('kantine demo: app master key').digest().subarray(0, 16),
    sdmMaster: createHash('sha256').update('kantine demo: SDM master key').digest().subarray(0, 16),
  },
};
export const demoCloneKeys = {
  appMaster: createHash('sha256').update('kantine demo: a cloner').digest().subarray(0, 16),
  sdmMaster: createHash('sha256').update('kantine demo: a cloner, SDM').digest().subarray(0, 16),
};

export const demoCards: readonly DemoCard[] = [
  { key: 'e', uid: '04A1B2C3D4E501', kind: 'ntag424', label: 'Emma', account_id: 'konto-emma' },
  {
    key: 'n',
    uid: '04A1B2C3D4E502',
    kind: 'legacy',
    label: 'Noah (gammelt kort / old UID card)',
    account_id: 'konto-noah',
  },
  { key: 'f', uid: '04A1B2C3D4E503', kind: 'ntag424', label: 'Freja', account_id: 'konto-freja' },
  { key: 'o', uid: '04A1B2C3D4E504', kind: 'ntag424', label: 'Frejas gamle kort / old card (erstattet)' },
  {
    key: 's',
    uid: '04A1B2C3D4E505',
    kind: 'ntag424',
    label: 'Olivers spærrede kort / Oliver’s blocked card',
    account_id: 'konto-oliver',
  },
  { key: 'b', uid: '04A1B2C3D4E506', kind: 'ntag424', label: 'blankt kort fra kontoret / blank card' },
  {
    key: 'k',
    uid: '04A1B2C3D4E501',
    kind: 'ntag424',
    label: 'kopi af Emmas kort / clone of Emma’s card',
    registered: false,
  },
  { key: 'u', uid: '04FFFFFFFFFF07', kind: 'legacy', label: 'ukendt kort / unknown card', registered: false },
];

/** A round picture with the child's initials: the demo's stand-in for a photo a guardian uploads. */
export function initialsPhoto(first: string, last: string, hue: number): string {
  const initials = `${first[0] ?? ''}${last[0] ?? ''}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" rx="50" fill="hsl(${hue} 55% 45%)"/><text x="50" y="63" font-family="sans-serif" font-size="38" fill="#fff" text-anchor="middle">${initials}</text></svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/**
 * What the site keeps of its own: the canteen, its till and products, the staff, and a paid
 * pre-order of Emma's for today (her account must have come from central first).
 */
export function seedDemoSite(ledger: Ledger, staffPinHashes: Record<string, string>): void {
  ledger.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
  ledger.upsertTill(demoTill);
  for (const p of demoProducts) {
    ledger.upsertProduct({
      id: p.id,
      place_id: 'kantinen',
      name: p.name,
      category: p.category,
      price_ore: p.price_ore,
      allergens: [...p.allergens],
    });
  }
  for (const s of demoStaff) {
    const pin_hash = staffPinHashes[s.id];
    if (pin_hash) ledger.putStaff({ id: s.id, name: s.name, pin_hash });
  }
}

export function seedDemoPreorder(ledger: Ledger, today: string): void {
  ledger.putPreorder({
    id: 'webshop-1001',
    account_id: 'konto-emma',
    place_id: 'kantinen',
    lines: [{ product_id: 'stor-grovbolle', name: 'Stor Grovbolle', quantity: 2, unit_price_ore: 500 }],
    for_date: today,
  });
}

/** The demo's children: Emma has a day limit, Noah little money, Freja an allergy, Oliver lost his card. */
export const demoChildren = [
  { id: 'konto-emma', first_name: 'Emma', last_name: 'Jensen', ore: 15_000, hue: 200 },
  { id: 'konto-noah', first_name: 'Noah', last_name: 'Hansen', ore: 450, hue: 30 },
  {
    id: 'konto-freja',
    first_name: 'Freja',
    last_name: 'Nielsen',
    ore: 8_000,
    hue: 140,
    allergies: ['noedder'],
    denied_categories: ['slik'],
    auto_topup_ore: 20_000,
  },
  { id: 'konto-oliver', first_name: 'Oliver', last_name: 'Berg', ore: 2_500, hue: 280 },
] as const;

/** Central's side of the demo: the site, the card batch, the children, their money and cards. */
export async function seedDemoCentral(central: Central, siteSecretHash: string): Promise<void> {
  await central.putSite({ id: demoSite.id, name: demoSite.name, place_kinds: ['school'], secret_hash: siteSecretHash });
  await central.registerBatch(demoBatch.id, demoBatch.keys.sdmMaster);
  for (const { ore, hue, ...c } of demoChildren) {
    await central.putAccount({
      ...c,
      allergies: 'allergies' in c ? [...c.allergies] : [],
      denied_categories: 'denied_categories' in c ? [...c.denied_categories] : [],
      photo: initialsPhoto(c.first_name, c.last_name, hue),
      sites: [demoSite.id],
      ...(c.id === 'konto-emma' ? { limits: [{ place_kind: 'school', period: 'day', limit_ore: 4_000 }] } : {}),
    });
    await central.deposit({ id: `demo-indbetaling-${c.id}`, account_id: c.id, amount_ore: ore });
  }
  const card = (key: string) => demoCards.find((c) => c.key === key && c.registered !== false) as DemoCard;
  for (const key of ['e', 'n', 'f', 'o', 's', 'b']) {
    const c = card(key);
    await central.putCard({ uid: c.uid, kind: c.kind, batch_id: c.kind === 'ntag424' ? demoBatch.id : null });
  }
  // Freja's old card was replaced by a new one; Oliver's card is lost and blocked.
  await central.activateCard(card('o').uid, 'konto-freja');
  for (const key of ['e', 'n', 'f', 's']) {
    const c = card(key);
    if (c.account_id) await central.activateCard(c.uid, c.account_id);
  }
  await central.setCardBlocked(card('s').uid, true);
}
