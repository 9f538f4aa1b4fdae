import { BrokerLogin } from '@kantine/mqtt';
import { ID_PATTERN, withDefaults } from '@kantine/protocol';
import { loadConfigFile } from '@kantine/protocol/config-file';
import Type, { type Static } from 'typebox';

/**
 * The reader's own config file (JSON). Validated at start; a bad file stops the reader with the
 * path of each bad field. What the site decides (till, timing) comes from the gateway's retained
 * `config` message instead; the values here are the reader's defaults until that arrives.
 */
export const ReaderFileConfig = Type.Object(
  {
    reader_id: Type.String({ pattern: ID_PATTERN }),
    site: Type.String({ pattern: ID_PATTERN }),
    broker: BrokerLogin({
      url: 'e.g. mqtts://gateway.local:8883',
      secret: "the reader's own secret, from enrolment",
      ca_file: 'the site CA (PEM) for mqtts://',
    }),
    port: Type.Object(
      {
        kind: Type.Union([Type.Literal('auto'), Type.Literal('pcsc'), Type.Literal('sim')], { default: 'auto' }),
        reader_name: Type.Optional(Type.String({ description: 'only use the PC/SC reader whose name contains this' })),
      },
      { additionalProperties: false, default: {} },
    ),
    /** The gateway's HTTP address, where releases are fetched (set by enrolment). */
    gateway_http: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** The municipality's public release key: updates signed with anything else are refused. */
    release_key_file: Type.String({ default: '/etc/kantine/release.pub.pem' }),
    /** Where the reader keeps its credentials, the site CA and the state of an update. */
    state_dir: Type.String({ default: '/var/lib/kantine-reader' }),
    answer_timeout_ms: Type.Integer({ minimum: 500, maximum: 10_000, default: 3_000 }),
    resend_interval_ms: Type.Integer({ minimum: 100, maximum: 5_000, default: 500 }),
  },
  { additionalProperties: false },
);
export type ReaderFileConfig = Static<typeof ReaderFileConfig>;

export function parseReaderConfig(value: unknown): ReaderFileConfig {
  return withDefaults(ReaderFileConfig, value);
}

export function loadReaderConfig(path: string): ReaderFileConfig {
  return loadConfigFile(ReaderFileConfig, path, 'reader config');
}
