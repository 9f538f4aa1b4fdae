import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { check, ID_PATTERN, KantineError } from '@kantine/protocol';
import { loadConfigFile } from '@kantine/protocol/config-file';
import { hashSecret, newSecret } from '@kantine/protocol/credentials';
import {
  EnrolResponse,
  enrolRequestMac,
  enrolResponseMac,
  macMatches,
  parseEnrolToken,
} from '@kantine/protocol/enrolment';
import Type, { type Static } from 'typebox';
import { parseReaderConfig, ReaderFileConfig } from './config.ts';
import { enrolmentFetch } from './gateway-http.ts';

/**
 * The reader's config file as IT writes it. Either it names the reader and its broker (a reader
 * set up by hand), or it carries a one-time enrolment token: then on first start the reader
 * enrols at the gateway and keeps what it gets (its id, its secret, the site CA) in its state
 * folder, and uses that from then on.
 */
export const ReaderSetupFile = Type.Object(
  {
    ...ReaderFileConfig.properties,
    reader_id: Type.Optional(ReaderFileConfig.properties.reader_id),
    site: Type.Optional(ReaderFileConfig.properties.site),
    broker: Type.Optional(ReaderFileConfig.properties.broker),
    enrol: Type.Optional(
      Type.Object(
        {
          /** The gateway's HTTPS address, e.g. https://gateway.skole.local:8080 (the answer is signed with the token) */
          url: Type.String({ pattern: '^https?://' }),
          token: Type.String({ description: 'from `kantine-gateway reader enrol`' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ReaderSetupFile = Static<typeof ReaderSetupFile>;

interface Credentials {
  /** The gateway's HTTP address (where it enrolled; releases come from there). */
  gateway_http?: string;
  reader_id: string;
  site: string;
  till_id: string;
  broker_url: string;
  secret: string;
  ca_file?: string;
}

/** Enrols at the gateway with a one-time token; checks that the answer is signed with it. */
export async function enrolReader(
  enrol: { url: string; token: string },
  wantedId?: string,
): Promise<Omit<Credentials, 'ca_file'> & { ca_pem?: string }> {
  const { id, key } = parseEnrolToken(enrol.token);
  const secret = newSecret();
  const request = {
    token_id: id,
    ...(wantedId ? { reader_id: wantedId } : {}),
    secret_hash: await hashSecret(secret),
  };
  let res: Response;
  try {
    res = await enrolmentFetch()(new URL('/api/enrol', enrol.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, ...request, mac: enrolRequestMac(key, request) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new KantineError(
      'enrolment_refused',
      `the gateway at ${enrol.url} does not answer: ${(err as Error).message}`,
    );
  }
  const body = (await res.json().catch(() => undefined)) as { code?: string; message?: string } | undefined;
  if (!res.ok) {
    throw new KantineError(
      'enrolment_refused',
      `the gateway refused: ${body?.code ?? res.status} ${body?.message ?? ''}`.trim(),
    );
  }
  const answer = check(EnrolResponse, body, 'invalid_payload');
  if (!macMatches(answer.mac, enrolResponseMac(key, id, answer))) {
    throw new KantineError(
      'enrolment_refused',
      'the answer is not signed with this token: it did not come from our gateway',
    );
  }
  return {
    reader_id: answer.reader_id,
    site: answer.site,
    till_id: answer.till_id,
    broker_url: answer.broker_url,
    secret,
    ...(answer.ca_pem ? { ca_pem: answer.ca_pem } : {}),
  };
}

/**
 * The config the daemon runs with: the file as it is when it names reader and broker; otherwise
 * the credentials from an earlier enrolment; otherwise enrol now (and keep the result).
 */
export async function resolveReaderConfig(
  path: string,
  onEnrolled?: (c: { reader_id: string; till_id: string; broker_url: string }) => void,
): Promise<ReaderFileConfig> {
  const file = loadConfigFile(ReaderSetupFile, path, 'reader config');
  const { enrol, ...rest } = file;
  const state_dir = rest.state_dir;
  if (rest.reader_id && rest.site && rest.broker) return parseReaderConfig(rest);
  const credentialsPath = join(state_dir, 'credentials.json');
  let creds: Credentials;
  if (existsSync(credentialsPath)) {
    creds = JSON.parse(readFileSync(credentialsPath, 'utf8')) as Credentials;
  } else if (enrol) {
    const host = hostname().toLowerCase();
    const got = await enrolReader(enrol, rest.reader_id ?? (new RegExp(ID_PATTERN).test(host) ? host : undefined));
    mkdirSync(state_dir, { recursive: true, mode: 0o700 });
    const { ca_pem, ...keep } = got;
    creds = { ...keep, gateway_http: enrol.url };
    if (ca_pem) {
      creds.ca_file = join(state_dir, 'site-ca.pem');
      writeFileSync(creds.ca_file, ca_pem);
    }
    writeFileSync(credentialsPath, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
    chmodSync(credentialsPath, 0o600);
    onEnrolled?.(creds);
  } else {
    throw new KantineError(
      'config_invalid',
      `${path} names no reader_id, site and broker, and has no enrol token (and ${credentialsPath} does not exist)`,
    );
  }
  return parseReaderConfig({
    ...rest,
    reader_id: creds.reader_id,
    site: creds.site,
    ...(rest.gateway_http || creds.gateway_http ? { gateway_http: rest.gateway_http ?? creds.gateway_http } : {}),
    broker: { url: creds.broker_url, secret: creds.secret, ...(creds.ca_file ? { ca_file: creds.ca_file } : {}) },
  });
}
