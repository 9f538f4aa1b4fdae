import { KantineError } from '@kantine/protocol';

export interface JsonResponse {
  status: number;
  /** The parsed body, or undefined when there was none (or it was not JSON). */
  body: unknown;
}

/** A provider's answer is small; a bigger one is refused unread (it is not the provider talking). */
const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * One request to a provider, bounded by `timeout_ms`. A timeout, a refused connection and any 5xx
 * are `payment_provider_unreachable` (the outcome is unknown: the caller retries with the same
 * idempotency key or fetches the payment later); every other status comes back to the caller.
 */
export async function requestJson(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: unknown; timeout_ms: number },
): Promise<JsonResponse> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeout_ms),
      redirect: 'error',
    });
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError' ? `no answer within ${init.timeout_ms} ms` : (err as Error).message;
    throw new KantineError('payment_provider_unreachable', `${init.method} ${new URL(url).pathname}: ${why}`);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new KantineError(
      'payment_provider_unreachable',
      `${init.method} ${new URL(url).pathname}: ${(err as Error).message}`,
    );
  }
  if (res.status >= 500) {
    throw new KantineError(
      'payment_provider_unreachable',
      `${init.method} ${new URL(url).pathname}: HTTP ${res.status}`,
    );
  }
  if (Buffer.byteLength(text) > MAX_RESPONSE_BYTES) {
    throw new KantineError('payment_request_refused', `${init.method} ${new URL(url).pathname}: answer too large`);
  }
  let body: unknown;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.status, body };
}

/** Reads a nested field of an untyped JSON answer. */
export function field(value: unknown, ...path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
