import { withDefaults } from '@kantine/protocol';
import { loadConfigFile } from '@kantine/protocol/config-file';
import Type, { type Static } from 'typebox';

const Tls = Type.Object(
  { key_file: Type.String(), cert_file: Type.String(), ca_file: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

/** Central's own broker (aedes), one worker: the default, and the demo's. */
const EmbeddedBroker = Type.Object(
  {
    mode: Type.Literal('embedded'),
    host: Type.String({ default: '0.0.0.0' }),
    // Not 8883: a gateway on the same machine (the demo) has that one for its readers.
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8884 }),
    tls: Type.Optional(Tls),
  },
  { additionalProperties: false },
);

/** A standard broker (Mosquitto, EMQX) that several workers share through `$share/…`. */
const ExternalBroker = Type.Object(
  {
    mode: Type.Literal('external'),
    url: Type.String({ pattern: '^(mqtts?|tcp|tls)://' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    ca_file: Type.Optional(Type.String()),
    /** The shared-subscription group of central's workers; one group per central system. */
    share_group: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'kantine-central' }),
  },
  { additionalProperties: false },
);

export const CentralConfig = Type.Object(
  {
    database: Type.Object(
      {
        /** A Postgres connection (postgres://…); without one, PGlite keeps the data in `dir`. */
        url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
        dir: Type.String({
          default: 'data/central',
          description: 'PGlite data folder when no url is given (`memory://` keeps nothing)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    mqtt: Type.Union([EmbeddedBroker, ExternalBroker], { default: { mode: 'embedded' } }),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8090 }),
        /**
         * A bearer token every API request must carry (`Authorization: Bearer …`). Required when
         * the API listens beyond this machine.
         */
        token: Type.Optional(Type.String({ minLength: 24 })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type CentralConfig = Static<typeof CentralConfig>;

export function parseCentralConfig(value: unknown): CentralConfig {
  return withDefaults(CentralConfig, value);
}

export function loadCentralConfig(path: string): CentralConfig {
  return loadConfigFile(CentralConfig, path, 'central config');
}
