import { families, openContext, portalTests, SITE, signInFromLanding, text } from './helpers/portal.ts';
import { startSite } from './helpers/site.ts';
import { eventually } from './helpers/wait.ts';

const { test, browser } = portalTests();

const EMMA_CARD = '04000000003E01';

test('a day limit set in the portal declines a purchase above it at the till, and a card blocked there is declined', async (t) => {
  const central = await families(t);
  const site = await startSite(t, { site: SITE, linked: true, config: { central: central.site_link } });
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
  const limitAtSchool = () =>
    site.ledger.db
      .prepare(
        "SELECT limit_ore FROM spend_limits WHERE account_id = 'konto-emma' AND place_kind = 'school' AND period = 'day'",
      )
      .get() as { limit_ore: number } | undefined;

  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', '/?return=%2Fkonti%2Fkonto-emma%2Findstillinger');
  await page.locator('#limit_school_day').fill('8');
  await page.getByTestId('save-limits').click();
  await page.waitForURL(`${central.http}/konti/konto-emma/indstillinger?besked=graenser`);
  await eventually(
    () => (limitAtSchool()?.limit_ore === 800 ? true : undefined),
    10_000,
    'the new limit at the school',
  );

  // 6 kr fits the 8 kr day; another 6 kr would pass it.
  t.is((await tap({ yoghurt: 1 }))?.outcome, 'approved');
  const over = await tap({ yoghurt: 1 });
  t.is(over?.outcome, 'declined');
  t.is(over?.code, 'limit_exceeded_day');

  // The card is lost: blocked on "Kort", the till declines it.
  await page.goto(`${central.http}/konti/konto-emma/kort`);
  await page.getByRole('button', { name: 'Spær kortet' }).click();
  await page.waitForURL(`${central.http}/konti/konto-emma/kort?besked=spaerret`);
  t.regex(await text(page.getByTestId('message')), /Kassen afviser det inden for få sekunder/);
  await eventually(
    () => (site.ledger.accounts.getCard(EMMA_CARD)?.state === 'blocked' ? true : undefined),
    10_000,
    'the block at the school',
  );
  t.is((await tap({ ostehoeps: 1 }))?.code, 'card_blocked');
});
