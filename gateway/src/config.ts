import { BrokerLogin, externalBrokerFields, listenFields, ServerTls } from '@kantine/mqtt';
import { ID_PATTERN, KantineError, withDefaults } from '@kantine/protocol';
import { loadConfigFile } from '@kantine/protocol/config-file';
import Type, { type Static } from 'typebox';

const EmbeddedBroker = Type.Object(
  {
    mode: Type.Literal('embedded'),
    // 8883 is the standard port of MQTT over TLS; 1883 is often taken by a system Mosquitto.
    ...listenFields(8883),
    /**
     * `auto` (the default): the gateway makes its own site CA and server certificate on first
     * start (next to the ledger, in tls/) and readers get the CA at enrolment. `off`: plain MQTT
     * (a test bench, or a broker reached only on the machine). Or your own key and certificate.
     */
    tls: Type.Union([Type.Literal('auto'), Type.Literal('off'), ServerTls], { default: 'auto' }),
    /** Extra names or addresses readers use for the gateway (with tls `auto`); its host name,
     * host name.local, localhost and its IPv4 addresses are always in the certificate. */
    server_names: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { default: [], maxItems: 20 }),
  },
  { additionalProperties: false },
);

const ExternalBroker = Type.Object(externalBrokerFields, { additionalProperties: false });

export const GatewayConfig = Type.Object(
  {
    site: Type.Object(
      { id: Type.String({ pattern: ID_PATTERN }), name: Type.String({ minLength: 1, maxLength: 80 }) },
      { additionalProperties: false },
    ),
    database: Type.String({ description: 'path of the SQLite ledger file', default: 'data/gateway.db' }),
    mqtt: Type.Union([EmbeddedBroker, ExternalBroker], { default: { mode: 'embedded' } }),
    http: Type.Object(
      {
        // The kiosk's tablets reach the till over the LAN: set 0.0.0.0 (or an address) for them.
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        /**
         * `auto` (the default): HTTPS with the site CA's server certificate, the same one (same
         * names) the broker uses; tablets and readers trust the site CA. Or your own key and
         * certificate. `off`: plain HTTP, refused at start unless `host` is a loopback address
         * (tests on one machine): staff PINs and session cookies never cross a network in the clear.
         */
        tls: Type.Union([Type.Literal('auto'), Type.Literal('off'), ServerTls], { default: 'auto' }),
        /**
         * A monitoring system's bearer token for `/metrics` from beyond this machine (at least 32
         * characters; `Authorization: Bearer …`). Without it `/metrics` answers only on loopback.
         */
        metrics_token: Type.Optional(Type.String({ minLength: 32, maxLength: 256 })),
      },
      { additionalProperties: false, default: {} },
    ),
    readers: Type.Object(
      {
        answer_timeout_ms: Type.Integer({ minimum: 500, maximum: 10_000, default: 3_000 }),
        resend_interval_ms: Type.Integer({ minimum: 100, maximum: 5_000, default: 500 }),
      },
      { additionalProperties: false, default: {} },
    ),
    group_commit: Type.Object(
      {
        // One transaction holds at most this many taps: bounds the time a batch holds the
        // event loop (~45 µs a tap, measured: docs/benchmarks.md) and the decisions lost if that
        // one commit fails.
        max_batch: Type.Integer({ minimum: 1, maximum: 1_000, default: 256 }),
      },
      { additionalProperties: false, default: {} },
    ),
    cards: Type.Object(
      {
        // UID-only cards can be copied by anyone with a phone; switch them off once every child
        // has a kantine card (docs/cards.md).
        allow_legacy: Type.Boolean({ default: true, description: 'accept UID-only (legacy) cards' }),
      },
      { additionalProperties: false, default: {} },
    ),
    // Central's broker (e.g. mqtts://central.kommune.dk:8884) and this site's secret, made by
    // central (`POST /api/sites/:site/secret`).
    central: Type.Optional(BrokerLogin({ description: 'the link to central; without it the site runs on its own' })),
    releases: Type.Object(
      {
        /** Where published reader releases are kept (default: releases/ next to the ledger). */
        dir: Type.Optional(Type.String()),
        /** The municipality's public release key: only releases signed with it are published. */
        public_key_file: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    bench_echo: Type.Boolean({
      default: false,
      description: 'answer readers on their echo topic with no ledger work (benchmark baseline only)',
    }),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;

export function parseGatewayConfig(value: unknown): GatewayConfig {
  return checkHttp(withDefaults(GatewayConfig, value));
}

export function loadGatewayConfig(path: string): GatewayConfig {
  return checkHttp(loadConfigFile(GatewayConfig, path, 'gateway config'));
}

/** Whether an address to listen on is this machine only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Plain HTTP carries PINs and session cookies: never beyond this machine. */
function checkHttp(config: GatewayConfig): GatewayConfig {
  if (config.http.tls === 'off' && !isLoopbackHost(config.http.host)) {
    throw new KantineError(
      'config_invalid',
      `http.tls: 'off' is only allowed with a loopback http.host (127.0.0.1, ::1), not ${config.http.host}`,
    );
  }
  return config;
}
