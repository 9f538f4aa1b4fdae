import { type Code, codes, KantineError } from '@kantine/protocol';

/**
 * Central's HTTP API as IT's tool uses it. Every refusal comes back as central's coded error;
 * central out of reach is `central_unreachable` (every call here is safe to repeat).
 */
export class CentralClient {
  private readonly base: URL;

  constructor(
    url: string,
    private readonly token?: string,
  ) {
    try {
      this.base = new URL(url);
    } catch {
      throw new KantineError('invalid_request', `--central "${url}" is not a URL (e.g. https://kantine.kommune.dk)`);
    }
  }

  async request<T>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new KantineError('central_unreachable', `${this.base.origin}: ${cause}`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new KantineError('central_unreachable', `${this.base.origin} answered ${res.status} without JSON`);
    }
    if (res.ok) return json as T;
    const e = json as { code?: string; message?: string; details?: string[] };
    const code = (e.code && e.code in codes ? e.code : 'internal_error') as Code;
    throw new KantineError(code, e.message ?? `central answered ${res.status}`, e.details ?? []);
  }
}
