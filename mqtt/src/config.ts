import Type, { type Static } from 'typebox';

/**
 * The broker and TLS parts of every kantine config file (gateway, central, reader), one shape
 * each. A part's own config composes these; the field names and defaults are what its config
 * files have always said.
 */

/** The URL schemes a broker address may have (MQTT.js's names for plain and TLS). */
export const BROKER_URL_PATTERN = '^(mqtts?|tcp|tls)://';

/** A broker's address, e.g. mqtts://gateway.local:8883. */
export const BrokerUrl = (options: { description?: string } = {}) =>
  Type.String({ pattern: BROKER_URL_PATTERN, ...options });

/** A broker's own TLS: its key and certificate (PEM files), and the CA that signed them. */
export const ServerTls = Type.Object(
  { key_file: Type.String(), cert_file: Type.String(), ca_file: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type ServerTls = Static<typeof ServerTls>;

/** Where an embedded broker listens. Its TLS field is the part's own (the gateway makes a CA). */
export const listenFields = (port: number) => ({
  host: Type.String({ default: '0.0.0.0' }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
});

/** A standard broker (Mosquitto, EMQX, …) logged in to with a user name and password. */
export const externalBrokerFields = {
  mode: Type.Literal('external'),
  url: BrokerUrl(),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  ca_file: Type.Optional(Type.String()),
};

/** A broker logged in to with this process's own secret (a reader at its gateway, a site at central). */
export const BrokerLogin = (
  descriptions: { url?: string; secret?: string; ca_file?: string; description?: string } = {},
) =>
  Type.Object(
    {
      url: BrokerUrl(descriptions.url ? { description: descriptions.url } : {}),
      secret: Type.String({ minLength: 16, ...(descriptions.secret ? { description: descriptions.secret } : {}) }),
      ca_file: Type.Optional(Type.String(descriptions.ca_file ? { description: descriptions.ca_file } : {})),
    },
    { additionalProperties: false, ...(descriptions.description ? { description: descriptions.description } : {}) },
  );
