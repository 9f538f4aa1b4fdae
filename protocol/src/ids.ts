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
