import Type, { type Static } from 'typebox';
import { Id } from './ids.ts';

/**
 * What the gateway tells a reader about its place in the site, retained so a reader gets it on
 * every connect. Timing is the site's to tune; the bounds say why they exist.
 */
export const ReaderConfig = Type.Object(
  {
    v: Type.Literal(1),
    reader_id: Id('the reader'),
    till_id: Id('the till this reader pays for'),
    till_name: Type.String({ maxLength: 80 }),
    place_name: Type.String({ maxLength: 80 }),
    // A child waits at the till: past 10 s an answer is useless, so the reader gives up sooner.
    answer_timeout_ms: Type.Integer({ minimum: 500, maximum: 10_000 }),
    // Re-send often enough to ride over a dropped packet, seldom enough not to flood the broker.
    resend_interval_ms: Type.Integer({ minimum: 100, maximum: 5_000 }),
    /**
     * The reader release this site runs (`kantine-gateway release target`). A reader on another
     * version fetches it from the gateway's HTTP port under `path`, checks its signature and
     * installs it into its idle slot.
     */
    release: Type.Optional(
      Type.Object(
        {
          version: Type.String({ pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$' }),
          path: Type.String({ pattern: '^/releases/[0-9A-Za-z.-]+/$' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'ReaderConfig', title: 'ReaderConfig' },
);
export type ReaderConfig = Static<typeof ReaderConfig>;
