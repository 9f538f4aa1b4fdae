import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';

/**
 * Our own PC/SC layer under nfc-pcsc's reader classes: libpcsclite's API called through koffi
 * (an FFI library with prebuilt binaries), in place of @pokusew/pcsclite, whose native reader watch
 * loses a reader unplugged soon after a card left (no `end`, and after the replug that reader never
 * reads again) and whose close can leave the process hanging on a native thread.
 *
 * Here one loop asks pcscd for the reader list and then waits, in a single SCardGetStatusChange,
 * on every reader and on the PnP notification. A reader pcscd no longer knows ends; one that is
 * back under the same name is a new reader. Card calls go through a second context, by reader
 * name, so nothing is bound to a reader that has gone. Closing cancels the wait and releases both
 * contexts: no thread and no socket is left behind.
 *
 * The objects it hands to nfc-pcsc behave as @pokusew/pcsclite's CardReader (the same events,
 * callbacks and constants), so nfc-pcsc's Reader and ACR122Reader run on them unchanged.
 */

// pcsc-lite's values (PCSC/pcsclite.h, PCSC/reader.h).
const SCARD_S_SUCCESS = 0;
const SCARD_E_CANCELLED = 0x80100002;
const SCARD_E_TIMEOUT = 0x8010000a;
const SCARD_E_NO_READERS_AVAILABLE = 0x8010002e;
const SCARD_SCOPE_SYSTEM = 2;
const STATE = {
  UNAWARE: 0x0000,
  IGNORE: 0x0001,
  CHANGED: 0x0002,
  UNKNOWN: 0x0004,
  UNAVAILABLE: 0x0008,
  EMPTY: 0x0010,
  PRESENT: 0x0020,
  ATRMATCH: 0x0040,
  EXCLUSIVE: 0x0080,
  INUSE: 0x0100,
  MUTE: 0x0200,
  UNPOWERED: 0x0400,
} as const;
const PNP_NOTIFICATION = '\\\\?PnP?\\Notification';
const MAX_ATR_SIZE = 33;
// The longest reader list we read (pcscd allows 16 readers of up to 128 bytes each).
const MAX_READER_LIST = 16 * 128 + 1;
// The wait is cut this often to look at the reader list afresh: pcsc-lite 1.9.9 reports a reader
// only when the count changes during a wait, so one added between two waits shows up here.
const WAIT_MS = 1_000;
// SCARD_CTL_CODE(1) on Linux and macOS: the CCID escape (libccid needs ifdDriverOptions 0x0001).
const IOCTL_CCID_ESCAPE = 0x42000001;

type Callback<T = void> = (err: Error | null, value?: T) => void;
type Call = (...args: unknown[]) => unknown;
interface Fn extends Call {
  async(...args: unknown[]): void;
}
interface Native {
  establish: Fn;
  release: Fn;
  list: Fn;
  wait: Fn;
  cancel: Fn;
  connect: Fn;
  disconnect: Fn;
  transmit: Fn;
  control: Fn;
  describe: (rv: number) => string;
}
interface ReaderState {
  szReader: string;
  pvUserData: null;
  dwCurrentState: number;
  dwEventState: number;
  cbAtr: number;
  rgbAtr: number[];
}

let native: Native | undefined;

/** Loads koffi and libpcsclite once; throws when either is missing. */
function load(): Native {
  if (native) return native;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as {
    load(path: string): { func(signature: string): Fn };
    struct(name: string, fields: Record<string, unknown>): unknown;
    array(type: string, length: number, hint: string): unknown;
  };
  // Linux only: macOS's PC/SC framework has 32-bit DWORDs, Windows another library.
  const lib = koffi.load('libpcsclite.so.1');
  // DWORD is unsigned long and SCARDCONTEXT/SCARDHANDLE are long in pcsc-lite on Linux.
  koffi.struct('KANTINE_SCARD_READERSTATE', {
    szReader: 'const char *',
    pvUserData: 'void *',
    dwCurrentState: 'unsigned long',
    dwEventState: 'unsigned long',
    cbAtr: 'unsigned long',
    rgbAtr: koffi.array('uint8_t', MAX_ATR_SIZE, 'Array'),
  });
  koffi.struct('KANTINE_SCARD_IO_REQUEST', { dwProtocol: 'unsigned long', cbPciLength: 'unsigned long' });
  const describe = lib.func('const char *pcsc_stringify_error(long rv)');
  native = {
    establish: lib.func(
      'long SCardEstablishContext(unsigned long scope, void *reserved1, void *reserved2, _Out_ long *context)',
    ),
    release: lib.func('long SCardReleaseContext(long context)'),
    list: lib.func(
      'long SCardListReaders(long context, const char *groups, _Out_ uint8_t *names, _Inout_ unsigned long *length)',
    ),
    wait: lib.func(
      'long SCardGetStatusChange(long context, unsigned long timeout, _Inout_ KANTINE_SCARD_READERSTATE *states, unsigned long count)',
    ),
    cancel: lib.func('long SCardCancel(long context)'),
    connect: lib.func(
      'long SCardConnect(long context, const char *reader, unsigned long share, unsigned long protocols, _Out_ long *card, _Out_ unsigned long *protocol)',
    ),
    disconnect: lib.func('long SCardDisconnect(long card, unsigned long disposition)'),
    transmit: lib.func(
      'long SCardTransmit(long card, const KANTINE_SCARD_IO_REQUEST *sendPci, const uint8_t *send, unsigned long sendLength, void *recvPci, _Out_ uint8_t *recv, _Inout_ unsigned long *recvLength)',
    ),
    control: lib.func(
      'long SCardControl(long card, unsigned long code, const uint8_t *send, unsigned long sendLength, _Out_ uint8_t *recv, unsigned long recvLength, _Out_ unsigned long *returned)',
    ),
    describe: (rv) => describe(rv) as string,
  };
  return native;
}

/** Is our PC/SC layer usable here (koffi loads and so does libpcsclite)? */
export function pcscLiteAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** A PC/SC error with pcsc-lite's own words and code. */
export class PcscError extends Error {
  constructor(
    readonly operation: string,
    readonly rv: number,
  ) {
    super(`${operation}: ${load().describe(rv)} (0x${rv.toString(16).padStart(8, '0')})`);
    this.name = 'PcscError';
  }
}

/** Calls a libpcsclite function on koffi's worker threads; resolves with the return code (unsigned). */
function call(fn: Fn, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: Error | null, rv: number) => (err ? reject(err) : resolve(Number(rv) >>> 0)));
  });
}

async function establish(): Promise<number> {
  const out = [0];
  const rv = await call(load().establish, SCARD_SCOPE_SYSTEM, null, null, out);
  if (rv !== SCARD_S_SUCCESS) throw new PcscError('SCardEstablishContext', rv);
  return out[0] as number;
}

async function listReaders(context: number): Promise<string[]> {
  const names = Buffer.alloc(MAX_READER_LIST);
  const length = [names.length];
  const rv = await call(load().list, context, null, names, length);
  if (rv === SCARD_E_NO_READERS_AVAILABLE) return [];
  if (rv !== SCARD_S_SUCCESS) throw new PcscError('SCardListReaders', rv);
  return names
    .subarray(0, length[0])
    .toString('utf8')
    .split('\0')
    .filter((name) => name !== '');
}

/** One entry of SCardGetStatusChange's list: a reader and the state we last saw it in. */
const watch = (name: string, current: number): ReaderState => ({
  szReader: name,
  pvUserData: null,
  dwCurrentState: current,
  dwEventState: 0,
  cbAtr: 0,
  rgbAtr: [],
});

/**
 * The reader list and events of one pcscd, as nfc-pcsc's NFC class gives them: `reader` for each
 * reader (an nfc-pcsc Reader over a {@link PcscCardReader}), `error` when pcscd is lost.
 */
export class PcscLite extends EventEmitter {
  readonly readers: Record<string, PcscCardReader> = {};
  private watchContext: number | undefined;
  private cardContext: number | undefined;
  private closed = false;
  private waiting = false;

  /** `wrap` makes the object announced for each reader (nfc-pcsc's Reader around ours). */
  constructor(private readonly wrap: (reader: PcscCardReader) => EventEmitter) {
    super();
    load();
    setImmediate(() => void this.run());
  }

  /** Stops watching; the wait in flight is cancelled and both contexts are released after it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiting && this.watchContext !== undefined)
      void call(load().cancel, this.watchContext).catch(() => undefined);
    for (const reader of Object.values(this.readers)) reader.gone();
  }

  /** The context card calls go through (undefined before pcscd answered and after close). */
  get context(): number | undefined {
    return this.closed ? undefined : this.cardContext;
  }

  private async run(): Promise<void> {
    try {
      this.watchContext = await establish();
      this.cardContext = await establish();
      let pnp = 0;
      while (!this.closed) {
        this.refresh(await listReaders(this.watchContext));
        if (this.closed) break;
        const watched = Object.values(this.readers);
        const states = [watch(PNP_NOTIFICATION, pnp), ...watched.map((r) => watch(r.name, r.pcscState))];
        this.waiting = true;
        const rv = await call(load().wait, this.watchContext, WAIT_MS, states, states.length).finally(() => {
          this.waiting = false;
        });
        if (this.closed || rv === SCARD_E_CANCELLED) break;
        if (rv === SCARD_E_TIMEOUT) continue;
        if (rv !== SCARD_S_SUCCESS) throw new PcscError('SCardGetStatusChange', rv);
        pnp = (states[0] as ReaderState).dwEventState & ~STATE.CHANGED;
        watched.forEach((reader, i) => {
          const state = states[i + 1] as ReaderState;
          if (state.dwEventState & STATE.CHANGED) this.update(reader, state);
        });
      }
    } catch (err) {
      // as nfc-pcsc's NFC: `error` when pcscd is lost (unheard if no one listens, never thrown)
      if (!this.closed && this.listenerCount('error') > 0) this.emit('error', err);
    } finally {
      this.closed = true;
      for (const reader of Object.values(this.readers)) reader.gone();
      for (const context of [this.watchContext, this.cardContext]) {
        if (context !== undefined) await call(load().release, context).catch(() => undefined);
      }
      this.watchContext = undefined;
      this.cardContext = undefined;
    }
  }

  /** Ends readers pcscd no longer lists and announces new ones. */
  private refresh(names: string[]): void {
    for (const [name, reader] of Object.entries(this.readers)) {
      if (!names.includes(name)) this.drop(reader);
    }
    for (const name of names) {
      if (this.readers[name] || this.closed) continue;
      const reader = new PcscCardReader(name, this);
      this.readers[name] = reader;
      reader.once('end', () => {
        if (this.readers[name] === reader) delete this.readers[name];
      });
      this.emit('reader', this.wrap(reader));
    }
  }

  private update(reader: PcscCardReader, state: ReaderState): void {
    const event = state.dwEventState & ~STATE.CHANGED;
    // Gone from pcscd, or back under the same name (its event counter starts again): the reader
    // we knew has ended; the next look at the list announces the one there now.
    const counter = event >>> 16;
    const lastCounter = reader.pcscState >>> 16;
    if (event & (STATE.UNKNOWN | STATE.IGNORE) || (reader.pcscState !== 0 && counter < lastCounter)) {
      this.drop(reader);
      return;
    }
    const atr = Buffer.from(state.rgbAtr.slice(0, state.cbAtr));
    reader.status(event, atr);
  }

  private drop(reader: PcscCardReader): void {
    delete this.readers[reader.name];
    reader.gone();
  }
}

/**
 * One reader, with @pokusew/pcsclite's CardReader interface: `status` ({state, atr}) then `state`
 * updated, `end` when the reader has gone or is closed, and callback-style card calls.
 */
export class PcscCardReader extends EventEmitter {
  readonly SCARD_SHARE_EXCLUSIVE = 1;
  readonly SCARD_SHARE_SHARED = 2;
  readonly SCARD_SHARE_DIRECT = 3;
  readonly SCARD_PROTOCOL_UNDEFINED = 0;
  readonly SCARD_PROTOCOL_T0 = 1;
  readonly SCARD_PROTOCOL_T1 = 2;
  readonly SCARD_PROTOCOL_RAW = 4;
  readonly SCARD_LEAVE_CARD = 0;
  readonly SCARD_RESET_CARD = 1;
  readonly SCARD_UNPOWER_CARD = 2;
  readonly SCARD_EJECT_CARD = 3;
  readonly SCARD_STATE_UNAWARE = STATE.UNAWARE;
  readonly SCARD_STATE_IGNORE = STATE.IGNORE;
  readonly SCARD_STATE_CHANGED = STATE.CHANGED;
  readonly SCARD_STATE_UNKNOWN = STATE.UNKNOWN;
  readonly SCARD_STATE_UNAVAILABLE = STATE.UNAVAILABLE;
  readonly SCARD_STATE_EMPTY = STATE.EMPTY;
  readonly SCARD_STATE_PRESENT = STATE.PRESENT;
  readonly SCARD_STATE_ATRMATCH = STATE.ATRMATCH;
  readonly SCARD_STATE_EXCLUSIVE = STATE.EXCLUSIVE;
  readonly SCARD_STATE_INUSE = STATE.INUSE;
  readonly SCARD_STATE_MUTE = STATE.MUTE;
  readonly SCARD_STATE_UNPOWERED = STATE.UNPOWERED;
  readonly IOCTL_CCID_ESCAPE = IOCTL_CCID_ESCAPE;
  /** The state nfc-pcsc compares a new status with (set after each `status` event). */
  state = 0;
  /** The full event state pcscd last reported, counter included: the next wait starts from it. */
  pcscState = 0;
  connected = false;
  private card: number | undefined;
  private protocol = 0;
  private ended = false;

  constructor(
    readonly name: string,
    private readonly pcsc: PcscLite,
  ) {
    super();
  }

  SCARD_CTL_CODE(code: number): number {
    return 0x42000000 + code;
  }

  /** pcscd reported a change. */
  status(state: number, atr: Buffer): void {
    this.pcscState = state;
    if (this.ended) return;
    this.emit('status', atr.length > 0 ? { state, atr } : { state });
    this.state = state;
  }

  /** The reader has gone (or its context closed): `end`, once, after the current event. */
  gone(): void {
    if (this.ended) return;
    this.ended = true;
    const card = this.card;
    this.card = undefined;
    this.connected = false;
    if (card !== undefined) void call(load().disconnect, card, this.SCARD_LEAVE_CARD).catch(() => undefined);
    setImmediate(() => {
      this.removeAllListeners('status');
      this.emit('end');
    });
  }

  close(): void {
    this.gone();
  }

  connect(options: { share_mode?: number; protocol?: number } | Callback<number>, callback?: Callback<number>): void {
    const cb = (typeof options === 'function' ? options : callback) as Callback<number>;
    const opts = typeof options === 'function' ? {} : options;
    if (this.connected) {
      cb(null, this.protocol);
      return;
    }
    const context = this.pcsc.context;
    if (this.ended || context === undefined) {
      cb(new Error(`reader ${this.name} has gone`));
      return;
    }
    const card = [0];
    const protocol = [0];
    const share = opts.share_mode ?? this.SCARD_SHARE_EXCLUSIVE;
    const protocols = opts.protocol ?? this.SCARD_PROTOCOL_T0 | this.SCARD_PROTOCOL_T1;
    call(load().connect, context, this.name, share, protocols, card, protocol).then(
      (rv) => {
        if (rv !== SCARD_S_SUCCESS) return cb(new PcscError('SCardConnect', rv));
        if (this.ended) {
          void call(load().disconnect, card[0], this.SCARD_LEAVE_CARD).catch(() => undefined);
          return cb(new Error(`reader ${this.name} has gone`));
        }
        this.card = card[0] as number;
        this.protocol = protocol[0] as number;
        this.connected = true;
        cb(null, this.protocol);
      },
      (err: Error) => cb(err),
    );
  }

  disconnect(disposition: number | Callback, callback?: Callback): void {
    const cb = (typeof disposition === 'function' ? disposition : callback) as Callback;
    const how = typeof disposition === 'number' ? disposition : this.SCARD_UNPOWER_CARD;
    const card = this.card;
    this.card = undefined;
    this.connected = false;
    if (card === undefined) {
      cb(null);
      return;
    }
    call(load().disconnect, card, how).then(
      (rv) => cb(rv === SCARD_S_SUCCESS ? null : new PcscError('SCardDisconnect', rv)),
      (err: Error) => cb(err),
    );
  }

  transmit(data: Buffer, responseLength: number, protocol: number, cb: Callback<Buffer>): void {
    const length = [responseLength];
    const pci = { dwProtocol: protocol, cbPciLength: 2 * (process.arch.endsWith('64') ? 8 : 4) };
    this.exchange('SCardTransmit', responseLength, cb, (card, response) =>
      call(load().transmit, card, pci, data, data.length, null, response, length).then((rv) => [
        rv,
        length[0] as number,
      ]),
    );
  }

  control(data: Buffer, code: number, responseLength: number, cb: Callback<Buffer>): void {
    const returned = [0];
    this.exchange('SCardControl', responseLength, cb, (card, response) =>
      call(load().control, card, code, data, data.length, response, responseLength, returned).then((rv) => [
        rv,
        returned[0] as number,
      ]),
    );
  }

  /** One exchange on the connected card: `run` answers pcsc-lite's code and the answer's length. */
  private exchange(
    operation: string,
    responseLength: number,
    cb: Callback<Buffer>,
    run: (card: number, response: Buffer) => Promise<[number, number]>,
  ): void {
    const card = this.card;
    if (card === undefined) {
      cb(new Error('Card Reader not connected'));
      return;
    }
    const response = Buffer.alloc(responseLength);
    run(card, response).then(
      ([rv, length]) =>
        rv === SCARD_S_SUCCESS ? cb(null, response.subarray(0, length)) : cb(new PcscError(operation, rv)),
      (err: Error) => cb(err),
    );
  }
}
