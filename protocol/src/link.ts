import Type, { type Static, type TSchema } from 'typebox';
import { BUDGET_PATTERN } from './budgets.ts';
import { SaleLine } from './decision.ts';
import { BatchId, CardUid, ID_PATTERN, Id, PlaceKindSchema, Timestamp } from './ids.ts';
import { LINK_AMOUNT_ORE_MAX, LinkAmountOre, SignedLinkAmountOre } from './money.ts';
import { LinkMenu, LinkPreorder, OrderId } from './webshop.ts';

/**
 * The link between a gateway and central (docs/replication.md). Two ordered logs, one each way:
 * every change carries its sequence number, the receiver applies change n only right after n−1
 * (in the same transaction that moves its cursor) and acknowledges its cursor; the sender re-sends
 * from the acknowledged cursor after a reconnect or a silence. Exactly once, in order, whatever
 * the network drops, duplicates or reorders.
 *
 * Topics, per site: `kantine/link/{site}/up` (gateway → central), `kantine/link/{site}/down`
 * (central → gateway). Central's workers may share `up` through `$share/…`.
 */
export function linkTopic(site: string, way: 'up' | 'down'): string {
  if (!new RegExp(ID_PATTERN).test(site))
    throw new Error(`site id ${JSON.stringify(site)} does not match ${ID_PATTERN}`);
  return `kantine/link/${site}/${way}`;
}
export const LINK_UP_FILTER = 'kantine/link/+/up';
export function parseLinkTopic(topic: string): { site: string; way: 'up' | 'down' } | null {
  const m = /^kantine\/link\/([a-z0-9][a-z0-9-]{0,62})\/(up|down)$/.exec(topic);
  return m ? { site: m[1] as string, way: m[2] as 'up' | 'down' } : null;
}

/**
 * Link messages may carry photos and batches of changes: a wider bound than a reader's. Senders
 * pack changes into messages by their size (`packChanges`), so no message is refused for it.
 */
export const MAX_LINK_PAYLOAD_BYTES = 1024 * 1024;
/** At most this many changes in one message (a bound on memory and on one transaction). */
export const MAX_CHANGES_PER_MESSAGE = 200;
/** Room left in a message for its envelope (`{"v":1,"t":"changes","changes":[…]}`) and commas. */
const ENVELOPE_BYTES = 1024;

/**
 * Packs changes, in order, into lists that each fit one link message: at most
 * MAX_CHANGES_PER_MESSAGE, and at most MAX_LINK_PAYLOAD_BYTES once encoded. A change that alone
 * exceeds the bound (impossible by schema: the largest account is a third of it) is replaced by
 * what `tooLarge` makes of it (a small stand-in that keeps its place in the log).
 */
export function packChanges<C>(changes: readonly C[], tooLarge: (change: C) => C): C[][] {
  const messages: C[][] = [];
  let current: C[] = [];
  let bytes = 0;
  const room = MAX_LINK_PAYLOAD_BYTES - ENVELOPE_BYTES;
  for (const original of changes) {
    let change = original;
    let size = Buffer.byteLength(JSON.stringify(change)) + 1;
    if (size > room) {
      change = tooLarge(original);
      size = Buffer.byteLength(JSON.stringify(change)) + 1;
    }
    if (current.length > 0 && (bytes + size > room || current.length >= MAX_CHANGES_PER_MESSAGE)) {
      messages.push(current);
      current = [];
      bytes = 0;
    }
    current.push(change);
    bytes += size;
  }
  if (current.length > 0) messages.push(current);
  return messages;
}

const Seq = Type.Integer({ minimum: 1, description: 'position in the sender’s log' });
const Cursor = Type.Integer({ minimum: 0, description: 'the last position applied' });
const Amount = LinkAmountOre;
const Budget = Type.String({ pattern: BUDGET_PATTERN });
const EntryId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-zA-Z-]+$' });
const AccountId = Id('account id');
const PlaceKindS = PlaceKindSchema;
/** An NTAG 424 DNA SUN read counter (3 bytes). */
const SunCounter = Type.Integer({ minimum: 0, maximum: 0xffffff });
const PeriodS = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]);
/**
 * A random mark central gives each change of a site's down log (docs/replication.md §Restore): a
 * site acknowledges its cursor with the mark of the change there, so central can tell its own log
 * from one it lost in a restore (the same sequence numbers, other changes).
 */
export const LinkMark = Type.String({ pattern: '^[0-9a-f]{16}$' });
const Mark = LinkMark;

/**
 * Where a site stands, sent with its hello and its changes (the ack carries its own cursor): the
 * mark of the last change of central's it applied, and how far central acknowledged its own log.
 * Central compares them with its record: a site ahead of it means central was restored.
 */
const StandingMarks = { down_mark: Type.Optional(Mark), up_acked: Type.Optional(Cursor) };
const Standing = { down_cursor: Type.Optional(Cursor), ...StandingMarks };

/** A sale or a void made at a gateway, with the budgets it drew on (a void gives them back). */
export const SiteEntry = Type.Object(
  {
    id: EntryId,
    account_id: AccountId,
    kind: Type.Union([Type.Literal('purchase'), Type.Literal('void')]),
    amount_ore: SignedLinkAmountOre,
    place_kind: PlaceKindS,
    budgets: Type.Array(Budget, { minItems: 1, maxItems: 4 }),
    tap_id: Type.Optional(Type.String({ maxLength: 64 })),
    voids_entry_id: Type.Optional(EntryId),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    lines: Type.Optional(Type.Array(SaleLine, { maxItems: 50 })),
    created_at: Timestamp,
    /**
     * A sale paid with a kantine card: the SUN counter of its message. Central keeps the highest
     * per card and sends it to the account's other sites, so a message is spent at one site only.
     */
    card: Type.Optional(Type.Object({ uid: CardUid, sun_counter: SunCounter }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type SiteEntry = Static<typeof SiteEntry>;

/**
 * What a site knew that central did not send again in a resync (after a restore: what central
 * made after its backup). A site's word, so central only lists it for an administrator (the
 * restore report) and never acts on it.
 */
export const RestoreNote = Type.Union([
  /** An entry (central's, or another site's) this site booked that central did not send again. */
  Type.Object(
    {
      what: Type.Literal('entry'),
      entry: Type.Object(
        {
          id: EntryId,
          account_id: AccountId,
          kind: Type.Union([
            Type.Literal('deposit'),
            Type.Literal('withdrawal'),
            Type.Literal('fee'),
            Type.Literal('purchase'),
            Type.Literal('void'),
          ]),
          amount_ore: SignedLinkAmountOre,
          origin: Type.String({ minLength: 1, maxLength: 63 }),
          created_at: Timestamp,
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  /**
   * An account this site held otherwise than central sent it: `fields` names what differed (the
   * site's values are central's lost ones), `limits` the limits the site had; `missing`: central
   * did not send the account at all.
   */
  Type.Object(
    {
      what: Type.Literal('account'),
      account_id: AccountId,
      first_name: Type.String({ maxLength: 80 }),
      last_name: Type.String({ maxLength: 80 }),
      missing: Type.Boolean(),
      fields: Type.Array(Type.String({ pattern: '^[a-z_]{1,40}$' }), { maxItems: 10 }),
      limits: Type.Array(
        Type.Object(
          {
            place_kind: PlaceKindS,
            period: PeriodS,
            limit_ore: Type.Integer({ minimum: 0, maximum: LINK_AMOUNT_ORE_MAX }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 6 },
      ),
    },
    { additionalProperties: false },
  ),
  /** A card in another state here than central sent (e.g. blocked here, active at central), or not sent. */
  Type.Object(
    {
      what: Type.Literal('card'),
      uid: CardUid,
      account_id: Type.Union([AccountId, Type.Null()]),
      state: Type.Union([
        Type.Literal('stock'),
        Type.Literal('active'),
        Type.Literal('blocked'),
        Type.Literal('replaced'),
      ]),
      central_state: Type.Union([
        Type.Literal('stock'),
        Type.Literal('active'),
        Type.Literal('blocked'),
        Type.Literal('replaced'),
        Type.Null(),
      ]),
    },
    { additionalProperties: false },
  ),
]);
export type RestoreNote = Static<typeof RestoreNote>;

export const UpChange = Type.Union([
  Type.Object({ seq: Seq, kind: Type.Literal('entry'), entry: SiteEntry }, { additionalProperties: false }),
  Type.Object(
    { seq: Seq, kind: Type.Literal('return'), account_id: AccountId, budget: Budget, amount_ore: Amount },
    { additionalProperties: false },
  ),
  /**
   * The site applied central's `reset` with this mark: every change before this one in its log was
   * made on shares from before the reset (central books them so that they leave the reset shares
   * alone); every change after it draws on shares central granted since.
   */
  Type.Object({ seq: Seq, kind: Type.Literal('resynced'), mark: Mark }, { additionalProperties: false }),
  /** After a resync: something this site knows that central did not send again (for the restore report). */
  Type.Object({ seq: Seq, kind: Type.Literal('note'), mark: Mark, note: RestoreNote }, { additionalProperties: false }),
  /** The webshop: canteen staff made (or replaced) a place's menu for a date at the kiosk. */
  Type.Object({ seq: Seq, kind: Type.Literal('menu'), menu: LinkMenu }, { additionalProperties: false }),
  /** The webshop: staff handed a paid order out at a till. */
  Type.Object(
    { seq: Seq, kind: Type.Literal('preorder_handed_out'), order_id: OrderId, handed_out_at: Timestamp },
    { additionalProperties: false },
  ),
  /**
   * Automatic top-up (issue 19): this site's purchase `entry_id` (earlier in this log) left the
   * account under the threshold. A request only: central decides whether and how much to charge
   * (the guardian's agreement), and answers with `topup_result` down; the site books nothing.
   */
  Type.Object(
    { seq: Seq, kind: Type.Literal('topup'), request_id: EntryId, account_id: AccountId, entry_id: EntryId },
    { additionalProperties: false },
  ),
]);
export type UpChange = Static<typeof UpChange>;
/** A change before its log gives it a sequence number. */
export type UnsequencedUp = UpChange extends infer C ? (C extends unknown ? Omit<C, 'seq'> : never) : never;

export const LinkUp = Type.Union([
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('changes'),
      changes: Type.Array(UpChange, { minItems: 1, maxItems: MAX_CHANGES_PER_MESSAGE }),
      ...Standing,
    },
    { additionalProperties: false },
  ),
  /** On (re)connect: where the gateway stands in both logs. */
  Type.Object(
    { v: Type.Literal(1), t: Type.Literal('hello'), down_cursor: Cursor, up_seq: Cursor, ...StandingMarks },
    { additionalProperties: false },
  ),
  /**
   * The gateway applied central's changes up to `down_cursor`. `set_aside`: changes in that range
   * it could not apply and moved past (with the code saying why), for central to record.
   */
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('ack'),
      down_cursor: Cursor,
      ...StandingMarks,
      set_aside: Type.Optional(
        Type.Array(
          Type.Object({ seq: Seq, code: Type.String({ pattern: '^[a-z_]{1,40}$' }) }, { additionalProperties: false }),
          { maxItems: MAX_CHANGES_PER_MESSAGE },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  /** A tap needs more of the account's budgets than this gateway holds: `needs` is the shortfall. */
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('ask'),
      ask_id: Type.String({ minLength: 1, maxLength: 64 }),
      account_id: AccountId,
      needs: Type.Array(Type.Object({ budget: Budget, amount_ore: Amount }, { additionalProperties: false }), {
        minItems: 1,
        maxItems: 4,
      }),
    },
    { additionalProperties: false },
  ),
]);
export type LinkUp = Static<typeof LinkUp>;

/**
 * An account's fields as central's API takes them and the link carries them: one definition for
 * both ends, so anything the API accepts a site can take (issue 16: an API that took 50 allergies
 * and the link 30 stalled a site's link for good). The largest account fits a link message thrice.
 */
export const AccountFields = {
  first_name: Type.String({ minLength: 1, maxLength: 80 }),
  last_name: Type.String({ maxLength: 80 }),
  place_kinds: Type.Array(PlaceKindS, { maxItems: 2, uniqueItems: true }),
  denied_categories: Type.Array(Id('category'), { maxItems: 50 }),
  allergies: Type.Array(Id('allergen'), { maxItems: 30 }),
  /** A data URL of at most 300,000 characters (a photo of about 220 kB). */
  photo: Type.Union([
    Type.String({ maxLength: 300_000, pattern: '^data:image/(png|jpeg|webp|svg\\+xml);base64,' }),
    Type.Null(),
  ]),
};

export const LinkAccount = Type.Object(
  {
    id: AccountId,
    ...AccountFields,
    auto_topup_ore: Type.Union([Amount, Type.Null()]),
    limits: Type.Array(
      Type.Object(
        {
          place_kind: PlaceKindS,
          period: PeriodS,
          limit_ore: Type.Integer({ minimum: 0, maximum: LINK_AMOUNT_ORE_MAX }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 6 },
    ),
  },
  { additionalProperties: false },
);
export type LinkAccount = Static<typeof LinkAccount>;

export const LinkCard = Type.Object(
  {
    uid: CardUid,
    account_id: Type.Union([AccountId, Type.Null()]),
    state: Type.Union([
      Type.Literal('stock'),
      Type.Literal('active'),
      Type.Literal('blocked'),
      Type.Literal('replaced'),
    ]),
    kind: Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')]),
    batch_id: Type.Union([BatchId, Type.Null()]),
    /** The highest SUN counter any site accepted (a kantine card): a site refuses one at or below. */
    sun_counter: Type.Optional(SunCounter),
  },
  { additionalProperties: false },
);
export type LinkCard = Static<typeof LinkCard>;

/** A balance change made elsewhere: at central (deposit, withdrawal, fee) or at another site. */
export const CentralEntry = Type.Object(
  {
    id: EntryId,
    account_id: AccountId,
    kind: Type.Union([
      Type.Literal('deposit'),
      Type.Literal('withdrawal'),
      Type.Literal('fee'),
      Type.Literal('purchase'),
      Type.Literal('void'),
    ]),
    amount_ore: SignedLinkAmountOre,
    origin: Type.String({ minLength: 1, maxLength: 63 }),
    place_kind: Type.Optional(PlaceKindS),
    voids_entry_id: Type.Optional(EntryId),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    lines: Type.Optional(Type.Array(SaleLine, { maxItems: 50 })),
    created_at: Timestamp,
  },
  { additionalProperties: false },
);
export type CentralEntry = Static<typeof CentralEntry>;

export const DownChange = Type.Union([
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('account'), account: LinkAccount },
    { additionalProperties: false },
  ),
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('card'), card: LinkCard },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      seq: Seq,
      mark: Type.Optional(Mark),
      kind: Type.Literal('batch'),
      batch: Type.Object(
        {
          id: BatchId,
          sdm_master: Type.String({
            pattern: '^[0-9a-f]{32}$',
            description: 'the batch SDM master key, lower-case hex',
          }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('entry'), entry: CentralEntry },
    { additionalProperties: false },
  ),
  /**
   * Central could not send change `seq` (larger than any message may be): the site moves past it
   * and counts it as set aside, like a change it cannot apply itself.
   */
  Type.Object(
    {
      seq: Seq,
      mark: Type.Optional(Mark),
      kind: Type.Literal('withheld'),
      code: Type.String({ pattern: '^[a-z_]{1,40}$' }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      seq: Seq,
      mark: Type.Optional(Mark),
      kind: Type.Literal('grant'),
      account_id: AccountId,
      budget: Budget,
      amount_ore: Amount,
    },
    { additionalProperties: false },
  ),
  /** Give back what is left of a budget's share (central needs it elsewhere, or a limit fell). */
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('recall'), account_id: AccountId, budget: Budget },
    { additionalProperties: false },
  ),
  /**
   * Central's log for this site starts again here (after central was restored, or found the site
   * following another log): the site takes it after any cursor, gives up what is left of every
   * share (central set them to nothing too), sends again its own sales and voids after
   * `last_entry_id` (the last of its entries central holds; null: all) from its ledger, and
   * continues its own log after `up_cursor` (central's, moved up to what the site says central
   * acknowledged). The changes up to `resync_done` are the site's accounts whole.
   */
  Type.Object(
    {
      seq: Seq,
      kind: Type.Literal('reset'),
      mark: Mark,
      up_cursor: Cursor,
      last_entry_id: Type.Union([EntryId, Type.Null()]),
    },
    { additionalProperties: false },
  ),
  /** The webshop: a paid order to hand out at one of the site's places on its date. */
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('preorder'), preorder: LinkPreorder },
    { additionalProperties: false },
  ),
  /** The webshop: the order was cancelled and refunded before it was handed out: not to be handed out. */
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('preorder_cancel'), order_id: OrderId },
    { additionalProperties: false },
  ),
  /**
   * Central's answer to the site's `topup` request: `deposited` (the deposit `entry_id` came earlier
   * in this log, as any deposit) or `failed` (`code` says why). The site only marks its request.
   */
  Type.Object(
    {
      seq: Seq,
      mark: Type.Optional(Mark),
      kind: Type.Literal('topup_result'),
      request_id: EntryId,
      outcome: Type.Union([Type.Literal('deposited'), Type.Literal('failed')]),
      entry_id: Type.Optional(EntryId),
      code: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
    },
    { additionalProperties: false },
  ),
  /** The end of the resync that `reset` (its mark) began: what the site knows beyond it goes to the report. */
  Type.Object(
    { seq: Seq, mark: Type.Optional(Mark), kind: Type.Literal('resync_done'), reset_mark: Mark },
    { additionalProperties: false },
  ),
  /**
   * shopfix: central's answer to a kiosk's menu (the site's up change `menu` at `up_seq`): taken
   * (guardians order from it), or refused — `code` and central's `message` say why.
   */
  Type.Object(
    {
      seq: Seq,
      mark: Type.Optional(Mark),
      kind: Type.Literal('menu_answer'),
      up_seq: Seq,
      place_id: Id('place id'),
      date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
      accepted: Type.Boolean(),
      code: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
      message: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
]);
export type DownChange = Static<typeof DownChange>;
export type UnsequencedDown = DownChange extends infer C ? (C extends unknown ? Omit<C, 'seq'> : never) : never;

/** The changes message of either schema: strict (what central sends) or per change (what a site takes). */
const downChanges = <C extends TSchema>(change: C) =>
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('changes'),
      changes: Type.Array(change, { minItems: 1, maxItems: MAX_CHANGES_PER_MESSAGE }),
    },
    { additionalProperties: false },
  );

/**
 * Central applied the site's changes up to `up_cursor`. `gap`: a message skipped some (lost, or
 * taken by another central worker that has not committed yet): re-send from the cursor.
 */
const DownAck = Type.Object(
  { v: Type.Literal(1), t: Type.Literal('ack'), up_cursor: Cursor, gap: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

/**
 * The answer to an ask. `granted`: the grants are in the down log up to `through_seq`;
 * `retry`: shares were recalled from other sites, ask again shortly; `refused`: the account
 * cannot afford it (`code` says which budget).
 */
const DownAnswer = Type.Object(
  {
    v: Type.Literal(1),
    t: Type.Literal('answer'),
    ask_id: Type.String({ minLength: 1, maxLength: 64 }),
    result: Type.Union([Type.Literal('granted'), Type.Literal('retry'), Type.Literal('refused')]),
    through_seq: Type.Optional(Cursor),
    budget: Type.Optional(Budget),
  },
  { additionalProperties: false },
);

export const LinkDown = Type.Union([downChanges(DownChange), DownAck, DownAnswer]);
export type LinkDown = Static<typeof LinkDown>;

/**
 * A message from central as a site takes it off the wire: each change only needs its place in
 * the log here, and is checked against `DownChange` on its own when its turn comes. One change a
 * site cannot take is set aside; it never refuses the changes after it (design note 13).
 */
export const LinkDownWire = Type.Union([
  downChanges(Type.Object({ seq: Seq, kind: Type.String({ maxLength: 40 }), mark: Type.Optional(Mark) })),
  DownAck,
  DownAnswer,
]);
export type LinkDownWire = Static<typeof LinkDownWire>;
