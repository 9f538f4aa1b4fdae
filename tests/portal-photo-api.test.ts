/**
 * Every way to set a child's photo takes only real JPEG, PNG or WebP pictures, decoded and made
 * central's own small square JPEG (issue 18): the portal's upload did, the API's PUT kept an SVG (a
 * picture that can carry a script) or any bytes under an image/png label as given. Now PUT and
 * PATCH go through the same picture-making as the upload; a refused photo is `photo_invalid` or
 * `photo_too_large` and changes nothing (not the account, not a new one).
 */
import { crc32, deflateSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import sharp from 'sharp';
import { startCentral, type TestCentral } from './helpers/central.ts';
import { freshDatabase } from './helpers/postgres.ts';

const SVG = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>',
).toString('base64')}`;
const dataUrl = (type: string, bytes: Buffer) => `data:${type};base64,${bytes.toString('base64')}`;

async function central(t: ExecutionContext): Promise<TestCentral> {
  const c = await startCentral(t, { database: { url: await freshDatabase(t, 'photoapi') } });
  await c.addSite('sondervang');
  return c;
}

/** A PNG whose header claims `w` × `h` pixels (1 bit grey) and holds none: refused from its header. */
function pngClaiming(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1_000))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const account = async (c: TestCentral, id: string) => (await c.api('GET', `/api/accounts/${id}`)).body;

test('PUT keeps a PNG only as central’s own 256 px JPEG without metadata', async (t) => {
  const c = await central(t);
  const png = await sharp({ create: { width: 600, height: 300, channels: 4, background: '#2a6f97' } })
    .withMetadata({ exif: { IFD0: { Copyright: 'GPS 55.6761 12.5683' } } })
    .png()
    .toBuffer();
  const res = await c.api('PUT', '/api/accounts/acc-emma', {
    first_name: 'Emma',
    sites: ['sondervang'],
    photo: dataUrl('image/png', png),
  });
  t.is(res.status, 204, JSON.stringify(res.body));
  const photo = (await account(c, 'acc-emma')).photo as string;
  t.regex(photo, /^data:image\/jpeg;base64,/);
  const meta = await sharp(Buffer.from(photo.slice(photo.indexOf(',') + 1), 'base64')).metadata();
  t.like(meta, { format: 'jpeg', width: 256, height: 256 });
  t.is(meta.exif, undefined);
});

test('PUT and PATCH refuse an SVG, a text file called PNG, a truncated PNG and a decompression bomb; nothing changes', async (t) => {
  const c = await central(t);
  const good = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#c8553d' } })
    .jpeg()
    .toBuffer();
  t.is(
    (
      await c.api('PUT', '/api/accounts/acc-emma', {
        first_name: 'Emma',
        sites: ['sondervang'],
        allergies: ['peanuts'],
        photo: dataUrl('image/jpeg', good),
      })
    ).status,
    204,
  );
  const before = await account(c, 'acc-emma');
  t.regex(before.photo, /^data:image\/jpeg;base64,/);
  const bomb = pngClaiming(30_000, 30_000);
  const refused: [string, string, string][] = [
    ['an SVG (it can carry a script)', SVG, 'photo_invalid'],
    [
      'an SVG labelled PNG',
      dataUrl('image/png', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')),
      'photo_invalid',
    ],
    ['a text file labelled JPEG', dataUrl('image/jpeg', Buffer.from('just some text, no picture')), 'photo_invalid'],
    ['a PNG header and nothing else', dataUrl('image/png', good.subarray(0, 40)), 'photo_invalid'],
    ['a decompression bomb', dataUrl('image/png', bomb), 'photo_too_large'],
  ];
  for (const [why, photo, code] of refused) {
    const put = await c.api('PUT', '/api/accounts/acc-emma', {
      first_name: 'Emmy',
      sites: ['sondervang'],
      allergies: [],
      photo,
    });
    t.is(put.status, 400, `PUT ${why}`);
    t.is(put.body?.code, code, `PUT ${why}`);
    t.deepEqual(await account(c, 'acc-emma'), before, `PUT ${why}: nothing changed`);
    // A new account with such a photo is not made at all.
    const fresh = await c.api('PUT', '/api/accounts/acc-new', { first_name: 'Ny', sites: ['sondervang'], photo });
    t.is(fresh.body?.code, code, `PUT new ${why}`);
    t.is((await c.api('GET', '/api/accounts/acc-new')).status, 404, `PUT new ${why}: no account`);
    if (!photo.startsWith('data:image/svg')) {
      const patch = await c.api('PATCH', '/api/accounts/acc-emma', { allergies: ['maelk'], photo });
      t.is(patch.status, 400, `PATCH ${why}`);
      t.is(patch.body?.code, code, `PATCH ${why}`);
      t.deepEqual(await account(c, 'acc-emma'), before, `PATCH ${why}: nothing changed`);
    }
  }
  // An SVG by PATCH is refused by the body's schema (no image/svg+xml there).
  const svgPatch = await c.api('PATCH', '/api/accounts/acc-emma', { photo: SVG });
  t.is(svgPatch.status, 400);
  t.deepEqual(await account(c, 'acc-emma'), before);
});
