import test from 'ava';
import { rawConnect } from '../helpers/mqtt-raw.ts';
import { startSite } from '../helpers/site.ts';

// Finding 9 of issue 16: every CONNECT cost an scrypt (~50 ms of a core), for anyone, and reader
// ids are public: 200 wrong CONNECTs made a real reader's connect take 8 s (readers give up after 3).

// Each file runs its own gateway; these two measure a flood, so they take turns.
const serial = test.serial;

const WRONG = 'not-the-secret-not-the-secret';

/**
 * Wrong CONNECTs as `username`, from the given addresses in turn, `parallel` at a time, until
 * `stop()` has been called and at least `min` were sent. Counts the broker's answers.
 */
function flood(port: number, username: string, sources: readonly string[], min: number, parallel = 20) {
  const codes = new Map<number | 'closed', number>();
  let sent = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped || sent < min) {
      const source = sources[sent % sources.length] as string;
      sent += 1;
      const { code } = await rawConnect(port, { clientId: `reader-${username}`, username, password: WRONG }, source);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  };
  const done = Promise.all(Array.from({ length: parallel }, worker));
  return {
    codes,
    get sent() {
      return sent;
    },
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

serial('200 wrong CONNECTs as a real reader are throttled, and the reader logs in while they go on', async (t) => {
  const site = await startSite(t);
  const secret = await site.enrol('reader-1', 'till-1');
  const port = Number(new URL(site.url).port);
  const login = () =>
    rawConnect(port, { clientId: 'reader-reader-1', username: 'reader-1', password: secret }, '127.0.0.1');
  // The reader has been online before (it logs in from where it stands).
  (await login()).socket.destroy();

  const attack = flood(port, 'reader-1', ['127.0.0.2'], 200);
  // The flood is well under way before the reader comes back.
  while (attack.sent < 50) await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  const reader = await login();
  const took_ms = performance.now() - started;
  const sentMeanwhile = attack.sent;
  await attack.stop();
  t.log(`the reader logged in after ${took_ms.toFixed(0)} ms, with ${sentMeanwhile} wrong CONNECTs sent by then`);

  t.is(reader.code, 0);
  reader.socket.destroy();
  const checked = attack.codes.get(4) ?? 0; // bad user name or password: the secret was checked
  const throttled = attack.codes.get(5) ?? 0; // not authorized: refused unchecked
  t.true(checked <= 10, `at most 10 of one address's guesses are checked a minute (${checked})`);
  t.is(checked + throttled, attack.sent, 'every other guess is refused unchecked');
  t.true(throttled >= 190);
});

serial(
  'guesses at one reader from 30 addresses are throttled by its id, and the reader still logs in from its own',
  async (t) => {
    const site = await startSite(t);
    const secret = await site.enrol('reader-1', 'till-1');
    const port = Number(new URL(site.url).port);
    const login = () =>
      rawConnect(port, { clientId: 'reader-reader-1', username: 'reader-1', password: secret }, '127.0.0.1');
    (await login()).socket.destroy();

    const sources = Array.from({ length: 30 }, (_, i) => `127.0.1.${i + 1}`);
    const attack = flood(port, 'reader-1', sources, 300);
    await attack.stop();
    const checked = attack.codes.get(4) ?? 0;
    t.true(checked <= 20, `at most 20 guesses at one id are checked a minute, whatever their addresses (${checked})`);
    t.is((attack.codes.get(5) ?? 0) + checked, 300);

    const reader = await login();
    t.is(reader.code, 0);
    reader.socket.destroy();
  },
);
