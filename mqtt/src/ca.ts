import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 needs the Reflect metadata API (for its dependency injection), loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/**
 * A broker's own certificate authority, made on its first start, and the broker's server
 * certificate signed by it: MQTT over TLS without buying or managing certificates. The gateway
 * makes one for its readers (the site CA; readers get it at enrolment), central one for the sites'
 * link (central's CA; IT gives it to each site). A client given the CA trusts nothing else.
 *
 * Files (in `dir`): {ca}.pem, {ca}.key, {server}.pem, {server}.key and {server}-names.json. The CA
 * lives 20 years; the server certificate 2 years, and is made again when the names change or it
 * has less than 30 days left. Keys are 0600, the folder 0700.
 */
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface BrokerTls {
  key_file: string;
  cert_file: string;
  ca_file: string;
  /** The names and addresses the server certificate is valid for. */
  names: string[];
}

/** Names a reader may use for this gateway: its host name, that.local, localhost and its IPs. */
export function defaultServerNames(extra: readonly string[] = []): string[] {
  const host = hostname().toLowerCase();
  const ips = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && !i.internal && i.family === 'IPv4')
    .map((i) => i?.address as string);
  return [...new Set([...extra, host, `${host}.local`, 'localhost', '127.0.0.1', ...ips])];
}

const isIp = (name: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');

async function pemKey(key: CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']) as Promise<CryptoKey>;
}

const serial = () => {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // a positive serial number
  return b.toString('hex');
};

/** The gateway's site CA and broker certificate (site-ca.pem, gateway.pem, …). */
export function ensureSiteTls(
  dir: string,
  site: string,
  names: readonly string[],
  now = new Date(),
): Promise<BrokerTls> {
  return ensureBrokerTls({
    dir,
    ca_file_base: 'site-ca',
    server_file_base: 'gateway',
    ca_name: `kantine site CA ${site}`,
    organisation: `kantine site ${site}`,
    names,
    now,
  });
}

export interface BrokerTlsOptions {
  dir: string;
  /** File names without extension: the CA's and the server certificate's. */
  ca_file_base: string;
  server_file_base: string;
  /** The CA's common name, e.g. "kantine site CA skole". */
  ca_name: string;
  /** The server certificate's organisation, e.g. "kantine site skole". */
  organisation: string;
  names: readonly string[];
  now?: Date;
}

export async function ensureBrokerTls(options: BrokerTlsOptions): Promise<BrokerTls> {
  const { dir, names } = options;
  const now = options.now ?? new Date();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {
    caCert: join(dir, `${options.ca_file_base}.pem`),
    caKey: join(dir, `${options.ca_file_base}.key`),
    cert: join(dir, `${options.server_file_base}.pem`),
    key: join(dir, `${options.server_file_base}.key`),
    names: join(dir, `${options.server_file_base}-names.json`),
  };
  // The folder is the gateway's own: only its user reads the keys (also those an older gateway
  // wrote with the default mode; `mode` below applies only when a file is created).
  chmodSync(dir, 0o700);
  for (const key of [files.caKey, files.key]) if (existsSync(key)) chmodSync(key, 0o600);
  let ca: x509.X509Certificate;
  let caKey: CryptoKey;
  if (existsSync(files.caCert) && existsSync(files.caKey)) {
    ca = new x509.X509Certificate(readFileSync(files.caCert, 'utf8'));
    caKey = await importKey(readFileSync(files.caKey, 'utf8'));
  } else {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${options.ca_name}, O=kantine`,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 20 * 365 * DAY),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    caKey = keys.privateKey;
    writeFileSync(files.caKey, await pemKey(caKey), { mode: 0o600 });
    chmodSync(files.caKey, 0o600);
    writeFileSync(files.caCert, ca.toString('pem'));
  }

  const wanted = [...new Set(names)].sort();
  const current = existsSync(files.names) ? (JSON.parse(readFileSync(files.names, 'utf8')) as string[]) : [];
  const cert = existsSync(files.cert) ? new x509.X509Certificate(readFileSync(files.cert, 'utf8')) : undefined;
  const fresh =
    cert &&
    existsSync(files.key) &&
    cert.issuer === ca.subject &&
    cert.notAfter.getTime() - now.getTime() > 30 * DAY &&
    JSON.stringify(current) === JSON.stringify(wanted);
  if (!fresh) {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const server = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${wanted.find((n) => !isIp(n)) ?? options.server_file_base}, O=${options.organisation}`,
      issuer: ca.subject,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 2 * 365 * DAY),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          wanted.map((n) => (isIp(n) ? { type: 'ip', value: n } : { type: 'dns', value: n })),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    writeFileSync(files.key, await pemKey(keys.privateKey), { mode: 0o600 });
    chmodSync(files.key, 0o600);
    writeFileSync(files.cert, `${server.toString('pem')}\n${ca.toString('pem')}\n`);
    writeFileSync(files.names, `${JSON.stringify(wanted)}\n`);
  }
  return { key_file: files.key, cert_file: files.cert, ca_file: files.caCert, names: wanted };
}
