import type { EventEmitter } from 'node:events';

/** Anything with on/off: Node's EventEmitter (servers, sockets) or MQTT.js's client. */
interface Emitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

/** Waits for an event whose arguments pass `test`, at most `timeout_ms`: every wait is bounded. */
export function waitForEvent<A extends unknown[]>(
  emitter: Emitter | EventEmitter,
  event: string,
  test: (...args: A) => boolean = () => true,
  timeout_ms = 5_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${event}" event within ${timeout_ms} ms`));
    }, timeout_ms);
    const listener = (...args: unknown[]) => {
      if (!test(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    };
    emitter.on(event, listener);
  });
}

/** Polls `check` until it returns a value other than undefined, at most `timeout_ms`. */
export async function eventually<T>(check: () => T | undefined, timeout_ms = 5_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeout_ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`${what} not met within ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `eventually` for an asynchronous check (an HTTP call, a query): polls until it gives a value. */
export async function until<T>(
  check: () => Promise<T | undefined>,
  what = 'condition',
  timeout_ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
