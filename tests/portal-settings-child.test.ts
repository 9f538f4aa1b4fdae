/**
 * "Indstillinger" beyond places and limits (issue 18), in real Chromium signed in through the dev
 * identity provider: product permissions, allergies and the child's photo, each its own form that
 * never resets another; photos that are not raster pictures, or too large, refused with a code
 * beside the field and nothing changed; a relation and a curious parent refused. axe-core on
 * every page; screenshots in artifacts/portal/.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import {
  accountCard,
  checkPage,
  families,
  openContext,
  portalTests,
  signInFromLanding,
  text,
} from './helpers/portal.ts';

const { test, browser } = portalTests();

const SETTINGS = '/konti/konto-emma/indstillinger';

/** The settings a guardian's forms touch, as central's API has them. */
async function settingsOf(central: Awaited<ReturnType<typeof families>>, account = 'konto-emma') {
  const a = (await central.api('GET', `/api/accounts/${account}`)).body;
  return {
    place_kinds: a.place_kinds,
    limits: a.limits,
    denied_categories: a.denied_categories,
    allergies: a.allergies,
    photo: a.photo,
  };
}

/** A camera's photo: big, with EXIF (camera, a copyright line standing in for GPS) and an ICC profile. */
async function cameraPhoto(): Promise<Buffer> {
  return sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#c8553d' } })
    .composite([
      {
        input: await sharp({ create: { width: 1000, height: 1000, channels: 3, background: '#2a6f97' } })
          .png()
          .toBuffer(),
        left: 1000,
        top: 500,
      },
    ])
    .withExif({ IFD0: { Make: 'Kamera', Copyright: 'Vejen 1, 4000 Roskilde' } })
    .withIccProfile('p3')
    .jpeg({ quality: 95 })
    .toBuffer();
}

/**
 * A decompression bomb: a valid PNG of about 50 kB that says it is 20,000 × 20,000 pixels (400
 * megapixels, 1 bit each) — 50 MB of zeros when inflated, far more once decoded to RGB.
 */
function pngBomb(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const side = 20_000;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.writeUInt8(1, 8); // bit depth 1
  ihdr.writeUInt8(0, 9); // greyscale
  const raw = Buffer.alloc((side / 8 + 1) * side); // each row: filter byte 0, then zeros
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(b: Buffer): number {
  let c = ~0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

test('a guardian sets permissions, allergies and a photo, each saved on its own; no group resets another', async (t) => {
  const central = await families(t);
  const { page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', `/?return=${encodeURIComponent(SETTINGS)}`);
  t.is(new URL(page.url()).pathname, SETTINGS);
  // Everything is allowed and no allergy marked to begin with.
  const permissions = page.getByTestId('permissions');
  t.is(await permissions.getByRole('checkbox').count(), 5);
  for (const box of await permissions.getByRole('checkbox').all()) t.true(await box.isChecked());
  t.is(await page.getByTestId('allergies').getByRole('checkbox', { checked: true }).count(), 0);
  const start = await settingsOf(central);
  t.deepEqual(start.limits, [{ place_kind: 'school', period: 'day', limit_ore: 5_000 }]);

  await permissions.getByRole('checkbox', { name: 'Slik og snacks' }).uncheck();
  await permissions.getByRole('checkbox', { name: 'Aktiviteter og ture' }).uncheck();
  await page.getByTestId('save-permissions').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=tilladelser`);
  t.regex(await text(page.getByTestId('message')), /Tilladelserne er gemt/);
  const afterPermissions = await settingsOf(central);
  t.deepEqual(afterPermissions, { ...start, denied_categories: ['slik', 'aktiviteter'] });
  t.false(await permissions.getByRole('checkbox', { name: 'Slik og snacks' }).isChecked());

  const allergies = page.getByTestId('allergies');
  await allergies.getByRole('checkbox', { name: 'Gluten' }).check();
  await allergies.getByRole('checkbox', { name: 'Nødder', exact: true }).check();
  await page.getByTestId('save-allergies').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=allergier`);
  const afterAllergies = await settingsOf(central);
  t.deepEqual(afterAllergies, { ...afterPermissions, allergies: ['gluten', 'noedder'] });

  // The photo: a camera's 3000 × 2000 JPEG with EXIF and a colour profile in; a 256 px square
  // JPEG without any of it out, small enough for the link.
  await page
    .locator('#photo')
    .setInputFiles({ name: 'IMG_0042.JPG', mimeType: 'image/jpeg', buffer: await cameraPhoto() });
  await page.getByTestId('save-photo').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=foto`);
  t.regex(await text(page.getByTestId('message')), /Fotoet er gemt/);
  const afterPhoto = await settingsOf(central);
  t.deepEqual({ ...afterPhoto, photo: null }, { ...afterAllergies, photo: null });
  const photo = afterPhoto.photo as string;
  t.regex(photo, /^data:image\/jpeg;base64,/);
  const bytes = Buffer.from(photo.slice(photo.indexOf(',') + 1), 'base64');
  t.true(bytes.length <= 48 * 1024, `${bytes.length} bytes`);
  const meta = await sharp(bytes).metadata();
  t.is(meta.format, 'jpeg');
  t.is(meta.width, 256);
  t.is(meta.height, 256);
  t.is(meta.exif, undefined);
  t.is(meta.icc, undefined);
  t.is(meta.xmp, undefined);
  t.false(bytes.includes(Buffer.from('Roskilde')));
  t.is(await page.getByTestId('photo-current').getAttribute('src'), photo);
  await checkPage(t, page, '52-indstillinger-tilladelser-allergier-foto');

  // The older groups save as before and leave the new ones alone.
  await page.locator('#limit_club_day').fill('25');
  await page.getByTestId('save-limits').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=graenser`);
  await page.getByRole('checkbox', { name: 'Klub' }).uncheck();
  await page.getByTestId('save-places').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=steder`);
  const afterOld = await settingsOf(central);
  t.deepEqual(afterOld.denied_categories, ['slik', 'aktiviteter']);
  t.deepEqual(afterOld.allergies, ['gluten', 'noedder']);
  t.is(afterOld.photo, photo);
  t.deepEqual(afterOld.place_kinds, ['school']);

  // Mine konti shows the photo (and the automatic top-up, off).
  await page.goto(`${central.http}/konti`);
  const emma = accountCard(page, 'konto-emma');
  t.is(await emma.getByTestId('photo').getAttribute('src'), photo);
  t.is(await text(emma.getByTestId('auto-topup')), 'Fra');
  await checkPage(t, page, '12-mine-konti-foto');

  // Removing the photo removes only the photo.
  await page.goto(`${central.http}${SETTINGS}`);
  await page.getByTestId('remove-photo').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=foto-fjernet`);
  t.is(await page.getByTestId('photo-none').count(), 1);
  t.deepEqual(await settingsOf(central), { ...afterOld, photo: null });
  await page.goto(`${central.http}/konti`);
  t.is(await accountCard(page, 'konto-emma').getByTestId('photo').count(), 0);
});

test('an SVG, a renamed text file, a huge file and a decompression bomb are refused with a code beside the field; the photo stays', async (t) => {
  const central = await families(t);
  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', `/?return=${encodeURIComponent(SETTINGS)}`);
  const good = await sharp({ create: { width: 400, height: 400, channels: 4, background: '#ffcc0080' } })
    .png()
    .toBuffer();
  await page.locator('#photo').setInputFiles({ name: 'emma.png', mimeType: 'image/png', buffer: good });
  await page.getByTestId('save-photo').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=foto`);
  const before = await settingsOf(central);
  t.regex(before.photo, /^data:image\/jpeg;base64,/);

  const refusedWith = async (file: { name: string; mimeType: string; buffer: Buffer }, text: RegExp) => {
    await page.goto(`${central.http}${SETTINGS}`);
    await page.locator('#photo').setInputFiles(file);
    await page.getByTestId('save-photo').click();
    await page.getByTestId('error-summary').waitFor();
    t.is(await page.locator('#photo').getAttribute('aria-invalid'), 'true', file.name);
    t.regex(await page.locator('#photo-error').innerText(), text, file.name);
    t.deepEqual(await settingsOf(central), before, `${file.name} changed nothing`);
  };
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>',
  );
  await refusedWith(
    { name: 'emma.svg', mimeType: 'image/svg+xml', buffer: svg },
    /ikke et billede i JPEG, PNG eller WebP/,
  );
  await checkPage(t, page, '53-indstillinger-foto-fejl');
  // The same SVG named and typed as a PNG: known by its bytes, not its name.
  await refusedWith({ name: 'emma.png', mimeType: 'image/png', buffer: svg }, /ikke et billede/);
  await refusedWith(
    { name: 'emma.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('Hej, jeg er en tekstfil.\n'.repeat(50)) },
    /ikke et billede/,
  );
  // JPEG's first bytes, then nothing a decoder can read.
  await refusedWith(
    {
      name: 'broken.jpg',
      mimeType: 'image/jpeg',
      buffer: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]),
    },
    /ikke et billede/,
  );
  const bomb = pngBomb();
  t.true(bomb.length < 200_000, `the bomb is ${bomb.length} bytes`);
  await refusedWith({ name: 'bombe.png', mimeType: 'image/png', buffer: bomb }, /Billedet er for stort/);

  // Past the largest upload the form is not read at all: a refusal page with the code.
  const huge = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(9 * 1024 * 1024, 1)]);
  await page.goto(`${central.http}${SETTINGS}`);
  const csrf = await page.locator('form.logout input[name="_csrf"]').inputValue();
  const answer = await context.request.post(`${central.http}${SETTINGS}/foto`, {
    multipart: { _csrf: csrf, photo: { name: 'stor.jpg', mimeType: 'image/jpeg', buffer: huge } },
    maxRedirects: 0,
  });
  t.is(answer.status(), 400);
  t.regex(await answer.text(), /data-code="photo_too_large"/);
  t.deepEqual(await settingsOf(central), before);
  // Without the form's token nothing is read either.
  const forged = await context.request.post(`${central.http}${SETTINGS}/foto`, {
    multipart: { photo: { name: 'emma.png', mimeType: 'image/png', buffer: good } },
    maxRedirects: 0,
  });
  t.is(forged.status(), 403);

  // Central's API makes the same checks: a PNG label on a text file is refused, nothing changes.
  const viaApi = await central.api('PATCH', '/api/accounts/konto-emma', {
    photo: `data:image/png;base64,${Buffer.from('Hej, jeg er en tekstfil.').toString('base64')}`,
  });
  t.is(viaApi.status, 400);
  t.is(viaApi.body.code, 'photo_invalid');
  t.deepEqual(await settingsOf(central), before);
});

test('a relation cannot open the settings and a curious parent gets 404 for another family’s child; nothing changes', async (t) => {
  const central = await families(t);
  const before = await settingsOf(central);

  // Karen, Emma's relation: a page that says she may not, for the page and each form.
  const karen = await openContext(t, browser());
  await signInFromLanding(karen.page, central, 'karen');
  const refused = await karen.page.goto(`${central.http}${SETTINGS}`);
  t.is(refused?.status(), 403);
  t.is(await karen.page.getByTestId('refusal').getAttribute('data-code'), 'scope_denied');
  t.regex(await text(karen.page.locator('h1')), /.+/);
  await checkPage(t, karen.page, '54-indstillinger-relation-afvist');
  const karenCsrf = await karen.page.locator('form.logout input[name="_csrf"]').inputValue();

  // Peter, Freja's guardian, posts Emma's account id into his own forms.
  const peter = await openContext(t, browser());
  await signInFromLanding(peter.page, central, 'peter');
  const peterCsrf = await peter.page.locator('form.logout input[name="_csrf"]').inputValue();
  t.is((await peter.page.goto(`${central.http}${SETTINGS}`))?.status(), 404);

  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  for (const [who, ctx, csrf, status] of [
    ['karen', karen.context, karenCsrf, 403],
    ['peter', peter.context, peterCsrf, 404],
  ] as const) {
    const post = (path: string, form: Record<string, string>) =>
      ctx.request.post(`${central.http}${SETTINGS}/${path}`, { form: { _csrf: csrf, ...form }, maxRedirects: 0 });
    t.is((await post('tilladelser', { category_mad: 'on' })).status(), status, `${who} tilladelser`);
    t.is((await post('allergier', { allergen_gluten: 'on' })).status(), status, `${who} allergier`);
    t.is((await post('foto/fjern', {})).status(), status, `${who} foto/fjern`);
    const photo = await ctx.request.post(`${central.http}${SETTINGS}/foto`, {
      multipart: { _csrf: csrf, photo: { name: 'x.png', mimeType: 'image/png', buffer: png } },
      maxRedirects: 0,
    });
    t.is(photo.status(), status, `${who} foto`);
  }
  t.deepEqual(await settingsOf(central), before);

  // A forged box for a category not on the municipality's list is refused whole, by Anne too.
  const anne = await openContext(t, browser());
  await signInFromLanding(anne.page, central, 'anne');
  const anneCsrf = await anne.page.locator('form.logout input[name="_csrf"]').inputValue();
  const forged = await anne.context.request.post(`${central.http}${SETTINGS}/tilladelser`, {
    form: { _csrf: anneCsrf, category_mad: 'on', 'category_ukendt-ting': 'on' },
    maxRedirects: 0,
  });
  t.is(forged.status(), 400);
  t.deepEqual(await settingsOf(central), before);
});

test('the administrator changes the category list; the form follows it and keeps a denied category that left the list', async (t) => {
  const central = await families(t);
  t.is((await central.api('PATCH', '/api/accounts/konto-emma', { denied_categories: ['slik'] })).status, 204);
  const list = [
    { id: 'mad', da: 'Mad', en: 'Food' },
    { id: 'frugt', da: 'Frugt og grønt', en: 'Fruit and vegetables' },
  ];
  // A list with an id twice is refused whole.
  const twice = await central.api('PUT', '/api/catalogue/categories', [...list, { id: 'mad', da: 'Mad', en: 'Food' }]);
  t.is(twice.status, 400);
  t.is(twice.body.code, 'invalid_request');
  t.is((await central.api('GET', '/api/catalogue')).body.categories.length, 5);
  t.is((await central.api('PUT', '/api/catalogue/categories', list)).status, 204);

  const { context, page } = await openContext(t, browser());
  await signInFromLanding(page, central, 'anne', `/?return=${encodeURIComponent(SETTINGS)}`);
  t.deepEqual((await (await context.request.get(`${central.http}/api/catalogue`)).json()).categories, list);
  const permissions = page.getByTestId('permissions');
  t.is(await permissions.getByRole('checkbox').count(), 2);
  await permissions.getByRole('checkbox', { name: 'Frugt og grønt' }).uncheck();
  await page.getByTestId('save-permissions').click();
  await page.waitForURL(`${central.http}${SETTINGS}?besked=tilladelser`);
  // "slik" is no longer on the list, and stays denied: the sites' products may still carry it.
  t.deepEqual((await settingsOf(central)).denied_categories, ['slik', 'frugt']);
});
