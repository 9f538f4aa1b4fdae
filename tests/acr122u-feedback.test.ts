import type { Decision } from '@kantine/protocol';
import { Acr122uFeedback, type EscapeChannel } from '@kantine/reader';
import test from 'ava';

/** A fake of the ACR122U's escape channel (SCardControl), recording what the reader sends. */
class RecordingEscape implements EscapeChannel {
  readonly sent: string[] = [];
  fail = false;
  async transmit(apdu: Buffer): Promise<Buffer> {
    this.sent.push(apdu.toString('hex').toUpperCase());
    if (this.fail) throw new Error('reader unplugged');
    return Buffer.from([0x90, 0x00]);
  }
}

const decision = (outcome: Decision['outcome'], code?: Decision['code']): Decision => ({
  v: 1,
  tap_id: '01a205cd-3e08-7b6a-946e-6579d44c59e2',
  reader_id: 'r1',
  outcome,
  ...(code ? { code } : {}),
  decided_at: new Date().toISOString(),
});

const flush = () => new Promise((r) => setImmediate(r));

test('ACR122U patterns: approved is green with one beep, declined red with two, errors orange without sound', async (t) => {
  const channel = new RecordingEscape();
  const errors: Error[] = [];
  const fb = new Acr122uFeedback(
    () => channel,
    (e) => errors.push(e),
  );
  fb.decision(decision('approved'));
  fb.decision(decision('balance'));
  fb.decision(decision('declined', 'insufficient_funds'));
  fb.noAnswer();
  fb.error('invalid_payload');
  fb.readFailed();
  await flush();
  // FF 00 40 <LED state control> 04 <T1> <T2> <repetitions> <buzzer link> (ACR122U API §6.2)
  t.deepEqual(channel.sent, [
    'FF0040AA0402010101', // green blink (final green), beep during T1
    'FF0040AA0402010101',
    'FF0040550402020203', // red blink twice (final red), beep in T1 and T2
    'FF0040FF0403030300', // red+green = orange, three slow blinks, silent
    'FF0040FF0403030300',
    'FF0040FF0403030300',
  ]);
  t.deepEqual(errors, []);
});

test('ACR122U feedback without a reader does nothing, and a failing escape is reported, not thrown', async (t) => {
  const errors: Error[] = [];
  const none = new Acr122uFeedback(
    () => undefined,
    (e) => errors.push(e),
  );
  t.notThrows(() => none.decision(decision('approved')));
  const channel = new RecordingEscape();
  channel.fail = true;
  const failing = new Acr122uFeedback(
    () => channel,
    (e) => errors.push(e),
  );
  failing.decision(decision('approved'));
  await flush();
  t.is(errors.length, 1);
  t.regex(errors[0]?.message ?? '', /unplugged/);
});
