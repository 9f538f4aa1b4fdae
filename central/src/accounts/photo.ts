import { KantineError } from '@kantine/protocol';
import sharp, { type Metadata } from 'sharp';

/** The largest upload taken (a phone camera's photo is 2–6 MB). */
export const PHOTO_UPLOAD_BYTES_MAX = 8 * 1024 * 1024;
/**
 * The most pixels a picture may declare (a 48 MP phone camera halves to 12; 40 MP is room to
 * spare). Checked from the header before any pixel is decoded: a small file that claims 30,000 ×
 * 30,000 pixels (a decompression bomb) is refused without being inflated.
 */
export const PHOTO_PIXELS_MAX = 40_000_000;
/** The stored photo: a square this many pixels wide, enough for the till's and the portal's. */
export const PHOTO_SIZE_PX = 256;
/** The stored photo's bytes at most (its data URL is a third longer; the link carries 300,000 characters). */
export const PHOTO_BYTES_MAX = 48 * 1024;

// One picture at a time per process, no cache: a central worker's memory is for the API.
sharp.concurrency(1);
sharp.cache(false);

type Kind = 'jpeg' | 'png' | 'webp';

/** What the bytes say they are, by their magic numbers; never by a file name or a browser's word. */
function sniff(b: Uint8Array): Kind | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (
    b.length >= 8 &&
    Buffer.from(b.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return 'png';
  if (
    b.length >= 12 &&
    Buffer.from(b.subarray(0, 4)).toString('latin1') === 'RIFF' &&
    Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP'
  )
    return 'webp';
  return undefined;
}

/**
 * A child's photo as central keeps it (issue 18): a JPEG, PNG or WebP picture in — raster only,
 * known by its bytes (an SVG can carry a script; a renamed text file is refused) — turned upright
 * by its EXIF orientation, cut to a centred square of 256 px, every metadata block left behind
 * (EXIF with the camera's GPS position, ICC, XMP), and out as a JPEG data URL of at most 48 kB.
 * `photo_too_large` for more bytes or pixels than the bounds above, `photo_invalid` for anything
 * that is not such a picture (or does not decode). Nothing is stored here.
 */
export async function photoDataUrl(bytes: Uint8Array): Promise<string> {
  if (bytes.length > PHOTO_UPLOAD_BYTES_MAX)
    throw new KantineError('photo_too_large', `${bytes.length} bytes, at most ${PHOTO_UPLOAD_BYTES_MAX}`);
  const kind = sniff(bytes);
  if (!kind) throw new KantineError('photo_invalid', 'not a JPEG, PNG or WebP picture');
  const input = () => sharp(bytes, { limitInputPixels: PHOTO_PIXELS_MAX, failOn: 'error', animated: false });
  let meta: Metadata;
  try {
    meta = await input().metadata();
  } catch (err) {
    throw badPicture(err);
  }
  if (meta.format !== kind) throw new KantineError('photo_invalid', `${kind} bytes that decode as ${meta.format}`);
  if (!meta.width || !meta.height) throw new KantineError('photo_invalid', 'a picture without a size');
  if (meta.width * meta.height > PHOTO_PIXELS_MAX)
    throw new KantineError('photo_too_large', `${meta.width}×${meta.height} pixels`);
  for (const quality of [80, 65, 50]) {
    let out: Buffer;
    try {
      out = await input()
        .rotate()
        .resize(PHOTO_SIZE_PX, PHOTO_SIZE_PX, { fit: 'cover', position: 'centre' })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality, mozjpeg: true })
        .toBuffer();
    } catch (err) {
      throw badPicture(err);
    }
    if (out.length <= PHOTO_BYTES_MAX) return `data:image/jpeg;base64,${out.toString('base64')}`;
  }
  // 256 × 256 at quality 50 is far below the bound: only a pathological picture gets here.
  throw new KantineError('photo_too_large', 'the picture does not fit the bound even when squeezed');
}

/**
 * A photo given as a data URL (the API's PUT and PATCH, an import, a seed): its bytes go through
 * `photoDataUrl` like an upload's, whatever media type the URL names — so an SVG (`data:image/svg+xml`),
 * a text file labelled PNG, or a picture too large is refused here with its code, and what is kept
 * is always central's own small square JPEG. Anything that is not a base64 data URL is `photo_invalid`.
 */
export async function photoFromDataUrl(url: string): Promise<string> {
  const head = /^data:[^;,]*;base64,/.exec(url);
  if (!head) throw new KantineError('photo_invalid', 'not a base64 data URL');
  const body = url.slice(head[0].length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new KantineError('photo_invalid', 'not base64');
  return photoDataUrl(Buffer.from(body, 'base64'));
}

/** sharp's refusal as ours: its pixel bound (read from the header, nothing inflated) or a picture that does not decode. */
function badPicture(err: unknown): KantineError {
  return /pixel limit/i.test((err as Error).message)
    ? new KantineError('photo_too_large', 'more pixels than the bound')
    : new KantineError('photo_invalid', 'the picture does not decode');
}
