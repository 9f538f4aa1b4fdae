import { Agent, fetch as undiciFetch } from 'undici';

/**
 * The reader's HTTPS to its gateway (enrolment and release downloads). The gateway's certificate
 * is signed by the site CA, which the reader gets at enrolment; from then on it trusts that CA
 * and nothing else for the gateway.
 */
export type GatewayFetch = (
  url: URL,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<Response>;

/** fetch that trusts only the site CA (PEM); plain fetch when there is no CA (plain HTTP). */
export function siteFetch(caPem: string | undefined): GatewayFetch {
  if (caPem === undefined) return (url, init) => fetch(url, init);
  const dispatcher = new Agent({ connect: { ca: caPem } });
  return (url, init) => undiciFetch(url, { ...init, dispatcher }) as unknown as Promise<Response>;
}

/**
 * fetch for the enrolment request only. The reader has no site CA yet, so it cannot check the
 * gateway's certificate; it does not need to: the request and the answer are both signed with the
 * one-time token's key (protocol/src/enrolment.ts), so a machine in the middle can neither change
 * the reader's secret hash nor hand it another broker or CA. TLS still keeps the exchange from
 * passive eyes. Never used for anything but `POST /api/enrol`.
 */
export function enrolmentFetch(): GatewayFetch {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  return (url, init) =>
    (url.protocol === 'https:'
      ? undiciFetch(url, { ...init, dispatcher })
      : fetch(url, init)) as unknown as Promise<Response>;
}
