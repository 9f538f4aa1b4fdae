import { createHash } from 'node:crypto';
import { addDays, type Central, localTime, localToday } from '@kantine/central';
import type { Ledger } from '@kantine/gateway';
import sharp from 'sharp';

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
  /** The number printed on its back (a guardian types the last 8 characters to activate it). */
  card_number?: string;
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
  {
    key: 'e',
    uid: '04A1B2C3D4E501',
    kind: 'ntag424',
    label: 'Emma',
    account_id: 'konto-emma',
    card_number: '7410-EMMA-2K6A',
  },
  {
    key: 'n',
    uid: '04A1B2C3D4E502',
    kind: 'legacy',
    label: 'Noah (gammelt kort / old UID card)',
    account_id: 'konto-noah',
    card_number: '7410-N0AH-3K7J',
  },
  {
    key: 'f',
    uid: '04A1B2C3D4E503',
    kind: 'ntag424',
    label: 'Freja',
    account_id: 'konto-freja',
    card_number: '7410-FREJ-A4KC',
  },
  {
    key: 'o',
    uid: '04A1B2C3D4E504',
    kind: 'ntag424',
    label: 'Frejas gamle kort / old card (erstattet)',
    card_number: '7410-GAMM-E158',
  },
  {
    key: 's',
    uid: '04A1B2C3D4E505',
    kind: 'ntag424',
    label: 'Olivers spærrede kort / Oliver’s blocked card',
    account_id: 'konto-oliver',
    card_number: '7410-011V-ER6W',
  },
  {
    key: 'b',
    uid: '04A1B2C3D4E506',
    kind: 'ntag424',
    // The number to activate it with in the portal (Kort): B1AN-K7KS.
    label: 'blankt kort fra kontoret B1AN-K7KS / blank card from the office',
    card_number: '7410-B1AN-K7KS',
  },
  {
    key: 'k',
    uid: '04A1B2C3D4E501',
    kind: 'ntag424',
    label: 'kopi af Emmas kort / clone of Emma’s card',
    registered: false,
  },
  { key: 'u', uid: '04FFFFFFFFFF07', kind: 'legacy', label: 'ukendt kort / unknown card', registered: false },
];

/**
 * A round picture with the child's initials: the demo's stand-in for a photo a guardian uploads.
 * Drawn as SVG and given as a PNG (central takes only raster pictures: JPEG, PNG, WebP).
 */
export async function initialsPhoto(first: string, last: string, hue: number): Promise<string> {
  const initials = `${first[0] ?? ''}${last[0] ?? ''}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 100 100"><rect width="100" height="100" fill="#fff"/><rect width="100" height="100" rx="50" fill="hsl(${hue} 55% 45%)"/><text x="50" y="63" font-family="sans-serif" font-size="38" fill="#fff" text-anchor="middle">${initials}</text></svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/**
 * What the site keeps of its own: the canteen, its till and products, the staff, and a paid
 * pre-order of Emma's for today (her account must have come from central first).
 */
export function seedDemoSite(ledger: Ledger, staffPinHashes: Record<string, string>): void {
  ledger.catalogue.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
  ledger.catalogue.upsertTill(demoTill);
  for (const p of demoProducts) {
    ledger.catalogue.upsertProduct({
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
    if (pin_hash) ledger.staff.putStaff({ id: s.id, name: s.name, pin_hash });
  }
}

export function seedDemoPreorder(ledger: Ledger, today: string): void {
  ledger.preorders.putPreorder({
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

/**
 * The webshop's menus for the coming school days (as canteen staff would make them at the kiosk):
 * orders until 09:00 on the day, cancelling until 08:00; the bread rolls capped at 30 a day.
 */
export async function seedDemoMenus(central: Central, today: string, days = 7): Promise<void> {
  for (let i = 0; i < days; i++) {
    const date = addDays(today, i);
    const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
    if (weekday === 0 || weekday === 6) continue; // no school at the weekend
    await central.webshop.putMenu(demoSite.id, 'kantinen', date, {
      place_name: 'Kantinen',
      place_kind: 'school',
      order_deadline: localTime(date, '09:00').toISOString(),
      cancel_deadline: localTime(date, '08:00').toISOString(),
      items: demoProducts
        .filter((p) => p.category !== 'slik')
        .map((p) => ({
          product_id: p.id,
          name: p.name,
          price_ore: p.price_ore,
          category: p.category,
          allergens: [...p.allergens],
          cap: p.id === 'stor-grovbolle' ? 30 : null,
        })),
    });
  }
}

/** Central's side of the demo: the site, the card batch, the children, their money and cards. */
export async function seedDemoCentral(central: Central, siteSecretHash: string): Promise<void> {
  await central.sites.put({
    id: demoSite.id,
    name: demoSite.name,
    place_kinds: ['school'],
    secret_hash: siteSecretHash,
  });
  await central.batches.register(demoBatch.id, demoBatch.keys.sdmMaster, { demo: true });
  await seedDemoMenus(central, localToday(new Date()));
  for (const { ore, hue, ...c } of demoChildren) {
    await central.accounts.put({
      ...c,
      allergies: 'allergies' in c ? [...c.allergies] : [],
      denied_categories: 'denied_categories' in c ? [...c.denied_categories] : [],
      photo: await initialsPhoto(c.first_name, c.last_name, hue),
      sites: [demoSite.id],
      ...(c.id === 'konto-emma' ? { limits: [{ place_kind: 'school', period: 'day', limit_ore: 4_000 }] } : {}),
    });
    await central.money.deposit({ id: `demo-indbetaling-${c.id}`, account_id: c.id, amount_ore: ore });
  }
  const card = (key: string) => demoCards.find((c) => c.key === key && c.registered !== false) as DemoCard;
  for (const key of ['e', 'n', 'f', 'o', 's']) {
    const c = card(key);
    await central.cards.put({
      uid: c.uid,
      kind: c.kind,
      batch_id: c.kind === 'ntag424' ? demoBatch.id : null,
      card_number: c.card_number ?? null,
    });
  }
  // The blank card lies in the school office's pile: a guardian activates it by its printed number.
  const blank = card('b');
  await central.stock.add(demoBatch.id, {
    site: demoSite.id,
    cards: [{ uid: blank.uid, card_number: blank.card_number as string }],
  });
  // Freja's old card was replaced by a new one; Oliver's card is lost and blocked.
  await central.cards.activate(card('o').uid, 'konto-freja');
  for (const key of ['e', 'n', 'f', 's']) {
    const c = card(key);
    if (c.account_id) await central.cards.activate(c.uid, c.account_id);
  }
  await central.cards.setBlocked(card('s').uid, true);
}
