import Type, { type Static } from 'typebox';
import { BATCH_ID_PATTERN, CardUid, Id, NtagUid, TapId, Timestamp } from './ids.ts';

/**
 * A UID-only card ("legacy"), the kind in children's pockets today: anyone can copy its UID, so
 * it is weaker and a site can refuse it. The UID is the anti-collision id: 4, 7 or 10 bytes,
 * upper-case hex.
 */
export const LegacyCard = Type.Object(
  {
    kind: Type.Literal('legacy'),
    uid: CardUid,
  },
  { additionalProperties: false },
);

/**
 * A kantine NTAG 424 DNA: the UID from anti-collision and the SUN message the chip mirrored into
 * its NDEF URL on this read (encrypted PICCData and a MAC only the key holder can check). No key
 * is involved on the reader.
 */
export const SunCard = Type.Object(
  {
    kind: Type.Literal('ntag424'),
    uid: NtagUid,
    batch: Type.String({ pattern: BATCH_ID_PATTERN, description: 'the batch named in the card URL' }),
    picc: Type.String({ pattern: '^[0-9A-F]{32}$', description: 'encrypted PICCData (16 bytes), upper-case hex' }),
    mac: Type.String({ pattern: '^[0-9A-F]{16}$', description: 'SDM MAC (8 bytes), upper-case hex' }),
  },
  { additionalProperties: false },
);

export const CardRead = Type.Union([LegacyCard, SunCard]);
export type CardRead = Static<typeof CardRead>;

/**
 * The highest `attempt` a tap carries. A reader re-sends at most every 100 ms for at most 10 s
 * (the bounds of ReaderConfig), i.e. 101 sends; later re-sends repeat this number.
 */
export const TAP_MAX_ATTEMPT = 100;

/**
 * Published by a reader when a card is presented. Re-sent with the same `tap_id` until answered.
 * A tap the gateway would decide later than the reader waits for an answer (its
 * `answer_timeout_ms`, measured from `age_ms`, or from `read_at` by the gateway's clock when a
 * reader sends no `age_ms`) is declined `tap_stale` and charges nothing: the reader has already
 * shown "no answer", and the child taps again.
 */
export const Tap = Type.Object(
  {
    v: Type.Literal(1),
    tap_id: TapId,
    reader_id: Id('the reader that read the card; must match the topic'),
    card: CardRead,
    read_at: Timestamp,
    age_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3_600_000,
        description:
          "ms since the card was read, by the reader's monotonic clock, at this send (not its wall clock: a Pi's clock may differ from the gateway's)",
      }),
    ),
    attempt: Type.Integer({ minimum: 1, maximum: TAP_MAX_ATTEMPT, description: '1 for the first send, then 2, 3, …' }),
  },
  { additionalProperties: false, $id: 'Tap', title: 'Tap' },
);
export type Tap = Static<typeof Tap>;

/**
 * Published by a reader that gave up waiting for a decision. If the gateway has not decided the
 * tap yet, it never will charge it (it stores a `tap_cancelled` decline); if it has, it answers
 * with the stored decision.
 */
export const TapCancel = Type.Object(
  {
    v: Type.Literal(1),
    tap_id: TapId,
    reader_id: Id('the reader that gave up; must match the topic'),
    reason: Type.Literal('no_answer'),
  },
  { additionalProperties: false, $id: 'TapCancel', title: 'TapCancel' },
);
export type TapCancel = Static<typeof TapCancel>;
