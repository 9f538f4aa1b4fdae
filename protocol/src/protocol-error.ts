import Type, { type Static } from 'typebox';
import { type Code, codes, type ErrorCode } from './codes.ts';

const errorCodes = (Object.keys(codes) as Code[]).filter((c): c is ErrorCode => codes[c].kind === 'error');

/**
 * Sent by the gateway to a reader whose message it refused (bad JSON, wrong schema, wrong
 * reader id). Nothing was changed. `tap_id` is set when it could be read from the message, so
 * the reader can stop waiting for that tap.
 */
export const ProtocolError = Type.Object(
  {
    v: Type.Literal(1),
    code: Type.Enum(errorCodes, { description: 'what was wrong' }),
    message: Type.String(),
    topic: Type.String(),
    tap_id: Type.Optional(Type.String()),
    details: Type.Array(Type.String(), { maxItems: 20 }),
  },
  { additionalProperties: false, $id: 'ProtocolError', title: 'ProtocolError' },
);
export type ProtocolError = Static<typeof ProtocolError>;
