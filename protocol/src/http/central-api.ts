import Type, { type Static } from 'typebox';
import { AES_KEY_HEX_PATTERN, BatchId, CPR_PATTERN, ID_PATTERN, PlaceKindSchema, RequestId } from '../ids.ts';
import { AccountFields } from '../link.ts';
import { AMOUNT_ORE_MAX, AmountOre } from '../money.ts';
import { SpendLimitBody } from '../provisioning.ts';

/** The bodies of central's HTTP API (docs/operations/central.md). */

const Id = Type.String({ pattern: ID_PATTERN });
const Text = (max: number) => Type.String({ maxLength: max });

export const SiteBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    place_kinds: Type.Array(PlaceKindSchema, { minItems: 1, maxItems: 2 }),
  },
  { additionalProperties: false },
);
export type SiteBody = Static<typeof SiteBody>;

/**
 * A top-up's amount: whole Danish kroner, as the seeds' portal asks ("beløbet skal være i hele
 * danske kroner"), for a one-off top-up and for the automatic top-up's amount alike. Øre on the
 * wire (a multiple of 100). The finance route's deposits stay øre-exact (docs/operations/central.md).
 */
export const TopUpOre = Type.Integer({
  minimum: 100,
  maximum: AMOUNT_ORE_MAX,
  multipleOf: 100,
  description: 'whole kroner, in øre',
});

export const AccountBody = Type.Object(
  {
    // The fields a site receives are the link's own (AccountFields): what this API takes, the
    // link carries.
    first_name: AccountFields.first_name,
    last_name: Type.Optional(AccountFields.last_name),
    /** Kept at central only: never sent to a site, never returned by this API. */
    cpr: Type.Optional(Type.Union([Type.String({ pattern: CPR_PATTERN }), Type.Null()])),
    place_kinds: Type.Optional(AccountFields.place_kinds),
    denied_categories: Type.Optional(AccountFields.denied_categories),
    allergies: Type.Optional(AccountFields.allergies),
    photo: Type.Optional(AccountFields.photo),
    auto_topup_ore: Type.Optional(Type.Union([TopUpOre, Type.Null()])),
    sites: Type.Array(Id, { maxItems: 20 }),
    limits: Type.Optional(Type.Array(SpendLimitBody, { maxItems: 6 })),
  },
  { additionalProperties: false },
);
export type AccountBody = Static<typeof AccountBody>;

export const DepositBody = Type.Object(
  { id: Type.Optional(RequestId), amount_ore: AmountOre },
  { additionalProperties: false },
);
export type DepositBody = Static<typeof DepositBody>;

export const WithdrawBody = Type.Object(
  {
    id: Type.Optional(RequestId),
    amount_ore: AmountOre,
    kind: Type.Optional(Type.Union([Type.Literal('withdrawal'), Type.Literal('fee')])),
    reason: Type.Optional(Text(200)),
  },
  { additionalProperties: false },
);
export type WithdrawBody = Static<typeof WithdrawBody>;

export const BatchBody = Type.Object(
  { sdm_master: Type.String({ pattern: AES_KEY_HEX_PATTERN, description: 'the batch SDM master key, hex' }) },
  { additionalProperties: false },
);
export type BatchBody = Static<typeof BatchBody>;

export const CardBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('legacy'), Type.Literal('ntag424')]),
    batch_id: Type.Optional(Type.Union([BatchId, Type.Null()])),
    card_number: Type.Optional(Type.Union([Text(40), Type.Null()])),
  },
  { additionalProperties: false },
);
export type CardBody = Static<typeof CardBody>;

export const ActivateBody = Type.Object({ account_id: Id }, { additionalProperties: false });
export type ActivateBody = Static<typeof ActivateBody>;

/**
 * A partial change of an account (`PATCH /api/accounts/:account`): one or more groups of its
 * settings, each saved whole, and every group left out stays as it was — a portal saving the
 * limits never touches the allergies. Each group has its own schema:
 */
export const AccountPatchGroups = {
  /** The child's name. */
  name: Type.Object(
    { first_name: AccountFields.first_name, last_name: Type.Optional(AccountFields.last_name) },
    { additionalProperties: false },
  ),
  /** Forbrugssteder: the kinds of place the card works at (schools, clubs). */
  place_kinds: AccountFields.place_kinds,
  /** Maks forbrug: the whole set of limits (an empty list: no limits); one per kind and period. */
  limits: Type.Array(SpendLimitBody, { maxItems: 6 }),
  allergies: AccountFields.allergies,
  /** A photo of the child (JPEG, PNG or WebP as a data URL), or null to remove it. */
  photo: Type.Union([
    Type.String({ maxLength: 300_000, pattern: '^data:image/(png|jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}$' }),
    Type.Null(),
  ]),
  /** Automatisk optankning: the amount in whole kroner (in øre), or null to stop it. */
  auto_topup_ore: Type.Union([TopUpOre, Type.Null()]),
  /** Tilladelser: the product categories the child may not buy. */
  denied_categories: AccountFields.denied_categories,
  /** The sites where the card works (administrators only: a guardian does not move a child's school). */
  sites: Type.Array(Id, { minItems: 1, maxItems: 20, uniqueItems: true }),
};

export const AccountPatch = Type.Object(
  {
    name: Type.Optional(AccountPatchGroups.name),
    place_kinds: Type.Optional(AccountPatchGroups.place_kinds),
    limits: Type.Optional(AccountPatchGroups.limits),
    allergies: Type.Optional(AccountPatchGroups.allergies),
    photo: Type.Optional(AccountPatchGroups.photo),
    auto_topup_ore: Type.Optional(AccountPatchGroups.auto_topup_ore),
    denied_categories: Type.Optional(AccountPatchGroups.denied_categories),
    sites: Type.Optional(AccountPatchGroups.sites),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type AccountPatch = Static<typeof AccountPatch>;

/** A statement's period: local dates (Europe/Copenhagen), both days included. */
const LocalDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' });
export const StatementQuery = Type.Object(
  {
    from: LocalDate,
    to: LocalDate,
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  },
  { additionalProperties: false },
);
export type StatementQuery = Static<typeof StatementQuery>;

/**
 * A card number in a URL (`/api/accounts/:account/cards/:number/block`), as printed on the back:
 * with or without the issuer's four digits, dashes optional, any case (`1234-ABCD-EFGH`,
 * `abcdefgh`).
 */
export const CardNumberParam = Type.String({
  minLength: 8,
  maxLength: 14,
  pattern: '^[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}(-?[0-9A-Za-z]{4})?$',
});

// — portalchild (issue 18) —
/**
 * One of the municipality's lists (`PUT /api/catalogue/categories|allergens`): the whole list in
 * its order, each entry the id the sites' products carry and its name in Danish and English.
 * At most 50 categories and 30 allergens, as an account may name (`AccountFields`).
 */
const CatalogueEntryBody = Type.Object(
  {
    id: Type.String({ pattern: ID_PATTERN }),
    da: Type.String({ minLength: 1, maxLength: 60 }),
    en: Type.String({ minLength: 1, maxLength: 60 }),
  },
  { additionalProperties: false },
);
export const CategoriesBody = Type.Array(CatalogueEntryBody, { maxItems: 50 });
export const AllergensBody = Type.Array(CatalogueEntryBody, { maxItems: 30 });
export type CatalogueEntryBody = Static<typeof CatalogueEntryBody>;

/** A person's contact details for receipts and alerts (`PUT /api/me/contact`); null: none. */
export const ContactBody = Type.Object(
  {
    email: Type.Union([
      Type.String({
        maxLength: 254,
        pattern:
          '^[^\\s@<>"\'(),;:\\\\\\[\\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$',
      }),
      Type.Null(),
    ]),
    /** A Danish mobile number as +45 and eight digits (`+4512345678`). */
    mobile: Type.Union([Type.String({ pattern: '^\\+45[2-9][0-9]{7}$' }), Type.Null()]),
    lang: Type.Union([Type.Literal('da'), Type.Literal('en')]),
  },
  { additionalProperties: false },
);
export type ContactBody = Static<typeof ContactBody>;
