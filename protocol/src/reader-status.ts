import Type, { type Static } from 'typebox';
import { Id } from './ids.ts';

/**
 * A reader's state, retained. The reader publishes `online` when it connects and registers an
 * `offline` message with reason `connection_lost` as its MQTT last will, so the gateway learns
 * when a reader is gone even if it dies without a word.
 */
export const ReaderStatus = Type.Object(
  {
    v: Type.Literal(1),
    reader_id: Id('the reader'),
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    reason: Type.Optional(Type.Union([Type.Literal('connection_lost'), Type.Literal('shutdown')])),
    since: Type.String({
      format: 'date-time',
      description: 'when the connection this status belongs to began (for offline: the one that ended)',
    }),
    version: Type.Optional(Type.String({ maxLength: 40 })),
    port: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('pcsc'), Type.Literal('sim')]),
          ready: Type.Boolean({ description: 'true when an NFC reader is attached and usable' }),
          name: Type.Optional(Type.String({ maxLength: 120 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'ReaderStatus', title: 'ReaderStatus' },
);
export type ReaderStatus = Static<typeof ReaderStatus>;
