import Type, { type Static } from 'typebox';
import { BUDGET_PATTERN } from './budgets.ts';
import { SaleLine } from './decision.ts';
import { ID_PATTERN, Id, Timestamp } from './ids.ts';

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

/** Link messages may carry photos and batches of changes: a wider bound than a reader's. */
export const MAX_LINK_PAYLOAD_BYTES = 1024 * 1024;
/** At most this many changes in one message (a bound on memory and on one transaction). */
export const MAX_CHANGES_PER_MESSAGE = 200;

const Seq = Type.Integer({ minimum: 1, description: 'position in the sender’s log' });
const Cursor = Type.Integer({ minimum: 0, description: 'the last position applied' });
const Amount = Type.Integer({ minimum: 1, maximum: 10_000_000_00 });
const Budget = Type.String({ pattern: BUDGET_PATTERN });
const EntryId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-zA-Z-]+$' });
const AccountId = Id('account id');
/** As a card's URL names it (the tap's `batch`): upper case allowed. */
export const BatchId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,31}$', description: 'card batch id' });
const PlaceKindS = Type.Union([Type.Literal('school'), Type.Literal('club')]);
const PeriodS = Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')]);

/** A sale or a void made at a gateway, with the budgets it drew on (a void gives them back). */
export const SiteEntry = Type.Object(
  {
    id: EntryId,
    account_id: AccountId,
    kind: Type.Union([Type.Literal('purchase'), Type.Literal('void')]),
    amount_ore: Type.Integer({ minimum: -10_000_000_00, maximum: 10_000_000_00 }),
    place_kind: PlaceKindS,
    budgets: Type.Array(Budget, { minItems: 1, maxItems: 4 }),
    tap_id: Type.Optional(Type.String({ maxLength: 64 })),
    voids_entry_id: Type.Optional(EntryId),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    lines: Type.Optional(Type.Array(SaleLine, { maxItems: 50 })),
    created_at: Timestamp,
  },
  { additionalProperties: false },
);
export type SiteEntry = Static<typeof SiteEntry>;

export const UpChange = Type.Union([
  Type.Object({ seq: Seq, kind: Type.Literal('entry'), entry: SiteEntry }, { additionalProperties: false }),
  Type.Object(
    { seq: Seq, kind: Type.Literal('return'), account_id: AccountId, budget: Budget, amount_ore: Amount },
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
    },
    { additionalProperties: false },
  ),
  /** On (re)connect: where the gateway stands in both logs. */
  Type.Object(
    { v: Type.Literal(1), t: Type.Literal('hello'), down_cursor: Cursor, up_seq: Cursor },
    { additionalProperties: false },
  ),
  Type.Object({ v: Type.Literal(1), t: Type.Literal('ack'), down_cursor: Cursor }, { additionalProperties: false }),
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

export const LinkAccount = Type.Object(
  {
    id: AccountId,
    first_name: Type.String({ minLength: 1, maxLength: 80 }),
    last_name: Type.String({ maxLength: 80 }),
    place_kinds: Type.Array(PlaceKindS, { maxItems: 2, uniqueItems: true }),
    denied_categories: Type.Array(Id('category'), { maxItems: 50 }),
    allergies: Type.Array(Id('allergen'), { maxItems: 30 }),
    photo: Type.Union([Type.String({ maxLength: 300_000, pattern: '^data:image/' }), Type.Null()]),
    auto_topup_ore: Type.Union([Amount, Type.Null()]),
    limits: Type.Array(
      Type.Object(
        { place_kind: PlaceKindS, period: PeriodS, limit_ore: Type.Integer({ minimum: 0, maximum: 10_000_000_00 }) },
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
    uid: Type.String({ pattern: '^[0-9A-F]{8,20}$' }),
    account_id: Type.Union([AccountId, Type.Null()]),
    state: Type.Union([
      Type.Literal('stock'),
      Type.Literal('active'),
      Type.Literal('blocked'),
      Type.Literal('replaced'),
    ]),
    kind: Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')]),
    batch_id: Type.Union([BatchId, Type.Null()]),
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
    amount_ore: Type.Integer({ minimum: -10_000_000_00, maximum: 10_000_000_00 }),
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
  Type.Object({ seq: Seq, kind: Type.Literal('account'), account: LinkAccount }, { additionalProperties: false }),
  Type.Object({ seq: Seq, kind: Type.Literal('card'), card: LinkCard }, { additionalProperties: false }),
  Type.Object(
    {
      seq: Seq,
      kind: Type.Literal('batch'),
      batch: Type.Object(
        { id: BatchId, sdm_master: Type.String({ pattern: '^[0-9a-f]{32}$' }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object({ seq: Seq, kind: Type.Literal('entry'), entry: CentralEntry }, { additionalProperties: false }),
  Type.Object(
    { seq: Seq, kind: Type.Literal('grant'), account_id: AccountId, budget: Budget, amount_ore: Amount },
    { additionalProperties: false },
  ),
  /** Give back what is left of a budget's share (central needs it elsewhere, or a limit fell). */
  Type.Object(
    { seq: Seq, kind: Type.Literal('recall'), account_id: AccountId, budget: Budget },
    { additionalProperties: false },
  ),
]);
export type DownChange = Static<typeof DownChange>;
export type UnsequencedDown = DownChange extends infer C ? (C extends unknown ? Omit<C, 'seq'> : never) : never;

export const LinkDown = Type.Union([
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('changes'),
      changes: Type.Array(DownChange, { minItems: 1, maxItems: MAX_CHANGES_PER_MESSAGE }),
    },
    { additionalProperties: false },
  ),
  /**
   * Central applied the site's changes up to `up_cursor`. `gap`: a message skipped some (lost, or
   * taken by another central worker that has not committed yet): re-send from the cursor.
   */
  Type.Object(
    { v: Type.Literal(1), t: Type.Literal('ack'), up_cursor: Cursor, gap: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  ),
  /**
   * The answer to an ask. `granted`: the grants are in the down log up to `through_seq`;
   * `retry`: shares were recalled from other sites, ask again shortly; `refused`: the account
   * cannot afford it (`code` says which budget).
   */
  Type.Object(
    {
      v: Type.Literal(1),
      t: Type.Literal('answer'),
      ask_id: Type.String({ minLength: 1, maxLength: 64 }),
      result: Type.Union([Type.Literal('granted'), Type.Literal('retry'), Type.Literal('refused')]),
      through_seq: Type.Optional(Cursor),
      budget: Type.Optional(Budget),
    },
    { additionalProperties: false },
  ),
]);
export type LinkDown = Static<typeof LinkDown>;
