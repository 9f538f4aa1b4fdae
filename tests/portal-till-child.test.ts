/**
 * What a guardian sets on "Indstillinger" reaches the till (issue 18): a real gateway linked to
 * central, a tap through the simulated reader. A denied category is declined with the till's
 * code, an allergy stops the basket for staff to confirm, and the photo the guardian uploads is
 * the one the till shows.
 */
import sharp from 'sharp';
import { families, openContext, portalTests, SITE, signInFromLanding } from './helpers/portal.ts';
import { startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

const { test, browser } = portalTests();

const EMMA_CARD = '04000000003E01';

test('a category denied in the portal is declined at the till, an allergy stops the basket, the photo is the till’s', async (t) => {
  const central = await families(t);
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
  site.ledger.catalogue.upsertProduct({
    id: 'chokolade',
    place_id: 'kantinen',
    name: 'Chokolade',
    category: 'slik',
    price_ore: 800,
    allergens: [],
  });
  site.ledger.catalogue.upsertProduct({
    id: 'kakaomaelk',
    place_id: 'kantinen',
    name: 'Kakaomælk',
    category: 'drikke',
    price_ore: 700,
    allergens: ['maelk'],
  });
  site.ledger.catalogue.upsertProduct({
    id: 'vand',
    place_id: 'kantinen',
    name: 'Vand',
    category: 'drikke',
    price_ore: 500,
    allergens: [],
  });
  await eventually(
    () => (site.ledger.accounts.getCard(EMMA_CARD)?.state === 'active' ? true : undefined),
    10_000,
    "Emma's card at the school",
  );
  const reader = await site.reader('laeser-portal');
  const tap = async (items: Record<string, number>) => {
    site.ledger.baskets.setBasket(
      'till-1',
      Object.entries(items).map(([product_id, quantity]) => ({ product_id, quantity })),
    );
    const r = await reader.tap(EMMA_CARD);
    return r.kind === 'decision' ? r.decision : undefined;
  };
  const emma = () => site.ledger.accounts.getAccount('konto-emma');

  // Before: sweets are allowed.
  t.is((await tap({ chokolade: 1 }))?.outcome, 'approved');

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Findstillinger');
  await page.getByRole('checkbox', { name: 'Slik og snacks' }).uncheck();
  await page.getByTestId('save-permissions').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=tilladelser`);
  await eventually(
    () => (emma()?.denied_categories.includes('slik') ? true : undefined),
    10_000,
    'the denied category at the school',
  );
  const denied = await tap({ chokolade: 1 });
  t.is(denied?.outcome, 'declined');
  t.is(denied?.code, 'category_not_allowed');
  // A basket without sweets still goes through.
  t.is((await tap({ vand: 1 }))?.outcome, 'approved');

  await page.getByRole('checkbox', { name: 'Mælk' }).check();
  await page.getByTestId('save-allergies').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=allergier`);
  await eventually(() => (emma()?.allergies.includes('maelk') ? true : undefined), 10_000, 'the allergy at the school');
  const stopped = await tap({ kakaomaelk: 1 });
  t.is(stopped?.outcome, 'declined');
  t.is(stopped?.code, 'allergen_check');
  t.is((await tap({ vand: 1 }))?.outcome, 'approved');

  // The photo: what the kiosk shows of the child when the card is tapped is the one central made.
  const picture = await sharp({ create: { width: 900, height: 600, channels: 3, background: '#2a6f97' } })
    .jpeg()
    .toBuffer();
  await page.locator('#photo').setInputFiles({ name: 'emma.jpg', mimeType: 'image/jpeg', buffer: picture });
  await page.getByTestId('save-photo').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=foto`);
  const stored = (await central.api('GET', '/api/accounts/konto-emma')).body.photo as string;
  t.regex(stored, /^data:image\/jpeg;base64,/);
  await eventually(
    () => (site.ledger.accounts.getAccountCard('konto-emma')?.photo === stored ? true : undefined),
    10_000,
    'the photo at the school',
  );
});
