import Type from 'typebox';

/**
 * Site, reader, till, place and product ids appear inside MQTT topics, so they may never hold
 * `/`, `+`, `#` or spaces. Lower-case letters, digits and `-`, at most 63 characters.
 */
export const ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const Id = (description: string) => Type.String({ pattern: ID_PATTERN, description });

/** UUIDv7 as made by the reader when the card is read (RFC 9562). */
export const TapId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
  description: 'UUIDv7 made by the reader when the card was read',
});

export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339 time' });

/** Money is always an integer number of øre (1 kr = 100 øre). */
export const Ore = (description: string) => Type.Integer({ description });

/**
 * A card's UID as a PC/SC reader reports it (ISO 14443-3): 4, 7 or 10 bytes, upper-case hex.
 * Old UID-only cards have any of the three; kantine's NTAG 424 DNA cards have 7.
 */
export const CARD_UID_PATTERN = '^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$';
export const CardUid = Type.String({ pattern: CARD_UID_PATTERN, description: 'card UID, upper-case hex' });

/** The 7-byte UID of an NTAG 424 DNA card, upper-case hex. */
export const NTAG_UID_PATTERN = '^[0-9A-F]{14}$';
export const NtagUid = Type.String({ pattern: NTAG_UID_PATTERN, description: 'card UID (7 bytes), upper-case hex' });

/** A card batch id: it is written in every card's URL, so letters, digits and `-`, at most 32. */
export const BATCH_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9-]{0,31}$';
export const BatchId = Type.String({ pattern: BATCH_ID_PATTERN, description: 'card batch id' });

/** An AES-128 key (a batch's SDM master key) as 32 hex digits. */
export const AES_KEY_HEX_PATTERN = '^[0-9a-fA-F]{32}$';

/** A Danish CPR number, DDMMYY-XXXX (the dash optional). Kept at central only. */
export const CPR_PATTERN = '^[0-9]{6}-?[0-9]{4}$';
export const Cpr = Type.String({ pattern: CPR_PATTERN, description: 'CPR number, DDMMYY-XXXX' });

/** A calendar date, YYYY-MM-DD (Europe/Copenhagen's days where a day is meant). */
export const DATE_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';
export const IsoDate = Type.String({ pattern: DATE_PATTERN, description: 'date, YYYY-MM-DD' });

/** An id a client chooses for a request so that a retry is harmless (deposits, withdrawals). */
export const REQUEST_ID_PATTERN = '^[0-9a-zA-Z-]{1,64}$';
export const RequestId = Type.String({ pattern: REQUEST_ID_PATTERN, description: 'makes a retried request harmless' });

/** The kinds of place a site has: a school canteen or an after-school club. */
export const PlaceKindSchema = Type.Union([Type.Literal('school'), Type.Literal('club')]);
