import { PHOTO_UPLOAD_BYTES_MAX } from '@kantine/central';
import { KantineError } from '@kantine/protocol';
import type { FastifyInstance } from 'fastify';

const MULTIPART = 'multipart/form-data';
/** Room for the form's other fields and the parts' headers beside the largest photo. */
const MULTIPART_BYTES_MAX = PHOTO_UPLOAD_BYTES_MAX + 64 * 1024;
/** A form with a file has a handful of fields: more is not one of ours. */
const PARTS_MAX = 10;

/** A file of a multipart form: its bytes and what the browser said of it (believed for nothing). */
export interface UploadedFile {
  bytes: Uint8Array;
  name: string;
}

/**
 * Forms with a file (the child's photo) post `multipart/form-data`. Read here whole into one
 * string per field and an `UploadedFile` per file, before the API's hooks look at `_csrf` — so a
 * form with a file is checked like any other. The body is bounded while it arrives: past the
 * largest photo the upload is refused `photo_too_large` and the rest is not kept. A field given
 * twice, or more than a handful of parts, is refused. Parsing is the platform's own (undici's
 * `Response.formData()`), no library of ours.
 */
export function acceptMultipart(app: FastifyInstance): void {
  if (app.hasContentTypeParser(MULTIPART)) return;
  app.addContentTypeParser(MULTIPART, { bodyLimit: MULTIPART_BYTES_MAX * 2 }, (req, payload, done) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let finished = false;
    const finish = (err: Error | null, body?: unknown) => {
      if (finished) return;
      finished = true;
      done(err, body);
    };
    payload.on('data', (chunk: Buffer) => {
      if (finished) return;
      bytes += chunk.length;
      if (bytes > MULTIPART_BYTES_MAX) {
        chunks.length = 0;
        payload.resume(); // read the rest away without keeping it
        finish(new KantineError('photo_too_large', `an upload over ${MULTIPART_BYTES_MAX} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (err) => finish(err));
    payload.on('end', () => {
      if (finished) return;
      const type = req.headers['content-type'] ?? '';
      new Response(Buffer.concat(chunks), { headers: { 'content-type': type } })
        .formData()
        .then(async (form) => {
          const fields: Record<string, string | UploadedFile> = {};
          let parts = 0;
          for (const [k, v] of form) {
            if (++parts > PARTS_MAX) throw new KantineError('invalid_request', 'too many parts in the form');
            if (Object.hasOwn(fields, k))
              throw new KantineError('invalid_request', `the form field ${k} is given twice`, [`/${k} given twice`]);
            fields[k] =
              typeof v === 'string' ? v : { bytes: new Uint8Array(await v.arrayBuffer()), name: v.name.slice(0, 200) };
          }
          finish(null, fields);
        })
        .catch((err: unknown) =>
          finish(err instanceof KantineError ? err : new KantineError('invalid_request', 'the form does not parse')),
        );
    });
  });
}
