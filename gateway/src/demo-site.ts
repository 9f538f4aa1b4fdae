import type { Ledger } from './ledger.ts';

/**
 * The demo site: one school canteen with one till, a few products, three children with
 * balances, and the cards that show every answer a till can give.
 */
export const demoSite = { id: 'soendervang', name: 'Søndervang Skole' };
export const demoTill = { id: 'kasse-1', place_id: 'kantinen', name: 'Kasse 1' };
export const demoReaderId = 'kasse-1-laeser';

export const demoProducts = [
  { key: '1', id: 'ostehoeps', name: 'Ostehøps', category: 'mad', price_ore: 300 },
  { key: '2', id: 'yoghurt', name: 'Yoghurt', category: 'mad', price_ore: 600 },
  { key: '3', id: 'stor-grovbolle', name: 'Stor Grovbolle', category: 'mad', price_ore: 500 },
  { key: '4', id: 'frugt', name: 'Frugt', category: 'mad', price_ore: 200 },
  { key: '5', id: 'kakaomaelk', name: 'Kakaomælk', category: 'drikke', price_ore: 700 },
] as const;

export interface DemoCard {
  key: string;
  uid: string;
  label: string;
  account_id?: string;
}

export const demoCards: readonly DemoCard[] = [
  { key: 'e', uid: '04A1B2C3D4E501', label: 'Emma', account_id: 'konto-emma' },
  { key: 'n', uid: '04A1B2C3D4E502', label: 'Noah', account_id: 'konto-noah' },
  { key: 'f', uid: '04A1B2C3D4E503', label: 'Freja', account_id: 'konto-freja' },
  { key: 'o', uid: '04A1B2C3D4E504', label: 'Frejas gamle kort / old card (erstattet)' },
  { key: 's', uid: '04A1B2C3D4E505', label: 'Emmas spærrede kort / blocked card' },
  { key: 'b', uid: '04A1B2C3D4E506', label: 'blankt kort fra kontoret / blank card' },
  { key: 'u', uid: '04FFFFFFFFFF07', label: 'ukendt kort / unknown card' },
];

export function seedDemoSite(ledger: Ledger): void {
  ledger.upsertPlace({ id: 'kantinen', name: 'Kantinen', kind: 'school' });
  ledger.upsertTill(demoTill);
  for (const p of demoProducts) {
    ledger.upsertProduct({
      id: p.id,
      place_id: 'kantinen',
      name: p.name,
      category: p.category,
      price_ore: p.price_ore,
    });
  }
  const children = [
    { id: 'konto-emma', first_name: 'Emma', last_name: 'Jensen', ore: 15_000, card: '04A1B2C3D4E501' },
    { id: 'konto-noah', first_name: 'Noah', last_name: 'Hansen', ore: 450, card: '04A1B2C3D4E502' },
    { id: 'konto-freja', first_name: 'Freja', last_name: 'Nielsen', ore: 8_000, card: '04A1B2C3D4E503' },
  ];
  for (const c of children) {
    ledger.createAccount({ id: c.id, first_name: c.first_name, last_name: c.last_name });
    ledger.deposit({ account_id: c.id, amount_ore: c.ore });
    ledger.putCard({ uid: c.card, account_id: c.id, state: 'active', label: c.first_name });
  }
  ledger.putCard({ uid: '04A1B2C3D4E504', account_id: 'konto-freja', state: 'replaced' });
  ledger.putCard({ uid: '04A1B2C3D4E505', account_id: 'konto-emma', state: 'blocked' });
  ledger.putCard({ uid: '04A1B2C3D4E506', account_id: null, state: 'stock' });
}
