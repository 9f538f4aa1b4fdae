import Type, { type Static } from 'typebox';
import { Id } from './ids.ts';

/**
 * A reader's state, retained. The reader publishes `online` when it connects and registers an
 * `offline` message with reason `connection_lost` as its MQTT last will, so the gateway learns
 * when a reader is gone even if it dies without a word. While online it publishes its status again
 * when the NFC reader comes or goes, and every minute with its `health` counters.
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
    health: Type.Optional(
      Type.Object(
        {
          uptime_s: Type.Integer({ minimum: 0, description: 'seconds since the reader program started' }),
          taps: Type.Integer({ minimum: 0, description: 'taps sent since start' }),
          no_answer: Type.Integer({ minimum: 0, description: 'taps the gateway did not answer in time' }),
          misreads: Type.Integer({ minimum: 0, description: 'cards not read whole (pulled away): no tap' }),
          port_errors: Type.Integer({ minimum: 0, description: 'errors from the NFC reader or pcscd' }),
          last_tap_at: Type.Optional(Type.String({ format: 'date-time' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'ReaderStatus', title: 'ReaderStatus' },
);
export type ReaderStatus = Static<typeof ReaderStatus>;
