/**
 * The one catalogue of decline and error codes. A code is stable: tests assert it, the kiosk and
 * the reader translate it, logs carry it. Texts are for people; never match on them.
 *
 * - `decline`: the answer to a tap that was understood but not paid.
 * - `error`: input that was refused (bad payload, bad request, bad config) — nothing changed.
 */
export type CodeKind = 'decline' | 'error';

export interface CodeInfo {
  readonly kind: CodeKind;
  /** Danish text for children and staff. */
  readonly da: string;
  /** English text beside it. */
  readonly en: string;
  /** What staff can do about it, in Danish. */
  readonly action_da?: string;
  /** What IT can do about it, in English (provisioning errors carry both). */
  readonly action_en?: string;
}

export const codes = {
  // ── Declines: a tap that was read and understood, but not paid ───────────────────────────────
  unknown_card: {
    kind: 'decline',
    da: 'Kortet kendes ikke',
    en: 'Unknown card',
    action_da: 'Kortet er ikke tilknyttet en konto. En forælder skal aktivere kortet.',
  },
  card_unknown_batch: {
    kind: 'decline',
    da: 'Kortet er fra et kortparti, denne skole ikke kender',
    en: 'Card from a batch this site does not know',
    action_da: 'Kortet er ikke registreret her. Kontakt IT, hvis kortet burde virke.',
  },
  card_cloned: {
    kind: 'decline',
    da: 'Kortet er ikke ægte',
    en: 'Card is not genuine (copied)',
    action_da: 'Kortet ligner et kopieret kort. Behold kortet og kontakt kontoret.',
  },
  card_tampered: {
    kind: 'decline',
    da: 'Kortets besked er ændret',
    en: 'Card message was altered',
    action_da: 'Bed barnet om at bippe igen. Sker det igen, så kontakt IT.',
  },
  card_replayed: {
    kind: 'decline',
    da: 'Kortets besked er brugt før',
    en: 'Card message was used before (replay)',
    action_da: 'Bed barnet om at bippe igen med kortet. Sker det igen, så kontakt IT.',
  },
  legacy_card_refused: {
    kind: 'decline',
    da: 'Gamle kort virker ikke længere her',
    en: 'Old (UID-only) cards are no longer accepted here',
    action_da: 'Barnet skal have et nyt kort. En forælder kan bestille det i forældreportalen.',
  },
  card_not_active: {
    kind: 'decline',
    da: 'Kortet er ikke aktiveret',
    en: 'Card not activated',
    action_da: 'Et nyt kort skal aktiveres af en forælder i forældreportalen.',
  },
  card_blocked: {
    kind: 'decline',
    da: 'Kortet er spærret',
    en: 'Card blocked',
    action_da: 'Kortet er meldt bortkommet. En forælder kan genåbne det i forældreportalen.',
  },
  card_replaced: {
    kind: 'decline',
    da: 'Kortet er erstattet af et nyere kort',
    en: 'Card replaced by a newer one',
    action_da: 'Barnet skal bruge sit nye kort.',
  },
  place_not_allowed: {
    kind: 'decline',
    da: 'Kortet må ikke bruges her',
    en: 'Card not allowed at this kind of place',
    action_da: 'Forældrene har ikke slået kortet til her (skole/klub). De kan ændre det i forældreportalen.',
  },
  category_not_allowed: {
    kind: 'decline',
    da: 'Barnet må ikke købe denne slags vare',
    en: 'Product category not permitted for this child',
    action_da: 'Fjern varen fra kurven. Forældrene styrer tilladelserne i forældreportalen.',
  },
  limit_exceeded_day: {
    kind: 'decline',
    da: 'Dagens maks forbrug er nået',
    en: 'Daily spend limit reached',
    action_da: 'Fjern varer fra kurven, eller prøv igen i morgen. Forældrene sætter grænsen.',
  },
  limit_exceeded_week: {
    kind: 'decline',
    da: 'Ugens maks forbrug er nået',
    en: 'Weekly spend limit reached',
    action_da: 'Fjern varer fra kurven, eller prøv igen på mandag. Forældrene sætter grænsen.',
  },
  limit_exceeded_month: {
    kind: 'decline',
    da: 'Månedens maks forbrug er nået',
    en: 'Monthly spend limit reached',
    action_da: 'Fjern varer fra kurven, eller prøv igen næste måned. Forældrene sætter grænsen.',
  },
  insufficient_funds: {
    kind: 'decline',
    da: 'Der er ikke penge nok på kortet',
    en: 'Insufficient funds',
    action_da: 'Fjern varer fra kurven, eller bed en forælder om at indbetale.',
  },
  allergen_check: {
    kind: 'decline',
    da: 'Vent – kurven skal tjekkes for allergi',
    en: 'Wait – the basket must be checked for allergies',
    action_da: 'Barnet er allergisk over for noget i kurven. Bekræft varen eller fjern den, og bed barnet bippe igen.',
  },
  share_exhausted_offline: {
    kind: 'decline',
    da: 'Kan ikke godkendes uden forbindelse til kommunen',
    en: 'Cannot be approved while the link to central is down',
    action_da:
      'Skolen har ikke forbindelse til kommunens system, og barnets andel af saldoen her er brugt. Prøv et mindre beløb eller vent på forbindelsen.',
  },
  tap_cancelled: {
    kind: 'decline',
    da: 'Betalingen blev afbrudt',
    en: 'Payment cancelled',
    action_da: 'Læseren fik intet svar og opgav. Bed barnet om at bippe igen.',
  },

  // ── Errors: input refused, nothing changed ───────────────────────────────────────────────────
  malformed_json: { kind: 'error', da: 'Beskeden er ikke gyldig JSON', en: 'Message is not valid JSON' },
  invalid_payload: {
    kind: 'error',
    da: 'Beskeden har ikke det rigtige format',
    en: 'Message does not match its schema',
  },
  unsupported_version: {
    kind: 'error',
    da: 'Beskedens version understøttes ikke',
    en: 'Unsupported message version',
  },
  reader_mismatch: {
    kind: 'error',
    da: 'Beskeden nævner en anden læser end emnet',
    en: 'Payload names another reader than its topic',
  },
  topic_not_allowed: {
    kind: 'error',
    da: 'Læseren må ikke bruge dette emne',
    en: 'Topic not allowed for this client',
  },
  bad_credentials: {
    kind: 'error',
    da: 'Forkert læser-id eller adgangskode',
    en: 'Bad reader id or secret',
  },
  unknown_reader: { kind: 'error', da: 'Ukendt læser', en: 'Unknown reader' },
  reader_not_assigned: {
    kind: 'error',
    da: 'Læseren er ikke knyttet til en kasse',
    en: 'Reader is not assigned to a till',
  },
  unknown_till: { kind: 'error', da: 'Ukendt kasse', en: 'Unknown till' },
  unknown_product: { kind: 'error', da: 'Ukendt vare', en: 'Unknown product' },
  basket_empty: { kind: 'error', da: 'Kurven er tom', en: 'Basket is empty' },
  basket_too_large: { kind: 'error', da: 'Kurven er for stor', en: 'Basket is too large' },
  invalid_request: {
    kind: 'error',
    da: 'Forespørgslen har ikke det rigtige format',
    en: 'Request does not match its schema',
  },
  not_found: { kind: 'error', da: 'Findes ikke', en: 'Not found' },
  sale_not_found: { kind: 'error', da: 'Salget findes ikke på denne kasse', en: 'No such sale at this till' },
  sale_already_voided: { kind: 'error', da: 'Salget er allerede annulleret', en: 'Sale already voided' },
  void_too_late: {
    kind: 'error',
    da: 'Kun dagens salg kan annulleres ved kassen',
    en: 'Only today’s sales can be voided at the till',
  },
  preorder_not_found: { kind: 'error', da: 'Forudbestillingen findes ikke her', en: 'No such pre-order here' },
  preorder_handed_out: {
    kind: 'error',
    da: 'Forudbestillingen er allerede udleveret',
    en: 'Pre-order already handed out',
  },
  topup_not_found: { kind: 'error', da: 'Optankningen findes ikke', en: 'No such top-up request' },
  not_logged_in: { kind: 'error', da: 'Log ind på kassen med din PIN-kode', en: 'Log in to the till with your PIN' },
  wrong_pin: { kind: 'error', da: 'Forkert PIN-kode', en: 'Wrong PIN' },
  pin_locked: {
    kind: 'error',
    da: 'For mange forkerte PIN-koder – vent et minut',
    en: 'Too many wrong PINs – wait a minute',
  },
  account_blocked: {
    kind: 'error',
    da: 'Kontoen er spærret; der kan ikke indbetales',
    en: 'Account is blocked; nothing can be deposited',
  },
  funds_held_offline: {
    kind: 'error',
    da: 'En del af saldoen ligger på en skole uden forbindelse; prøv igen senere',
    en: 'Part of the balance is held by a site that is offline; try again later',
  },
  insufficient_balance: { kind: 'error', da: 'Saldoen er for lav', en: 'Balance too low' },
  link_out_of_order: {
    kind: 'error',
    da: 'Forbindelsens besked kom i forkert rækkefølge',
    en: 'Link message out of order',
  },
  config_invalid: { kind: 'error', da: 'Konfigurationen er ugyldig', en: 'Configuration is invalid' },
  // ── IT's provisioning tools ──────────────────────────────────────────────────────────────────
  no_card_reader: {
    kind: 'error',
    da: 'Ingen kortlæser fundet',
    en: 'No card reader found',
    action_da: 'Sæt USB-kortlæseren i, og tjek at pcscd kører (`systemctl status pcscd`, `pcsc_scan`).',
    action_en: 'Plug in the USB card reader and check that pcscd runs (`systemctl status pcscd`, `pcsc_scan`).',
  },
  card_not_blank: {
    kind: 'error',
    da: 'Kortet er hverken blankt eller fra dette kortparti',
    en: 'The card is neither blank nor from this batch',
    action_da: 'Læg kortet til side (det har ukendte nøgler), og læg det næste på.',
    action_en: 'Set the card aside (it has keys we do not know) and lay on the next one.',
  },
  card_not_ntag424: {
    kind: 'error',
    da: 'Kortet er ikke et NTAG 424 DNA-kort',
    en: 'The card is not an NTAG 424 DNA',
    action_da: 'Kun blanke NTAG 424 DNA-kort kan programmeres. Læg kortet til side.',
    action_en: 'Only blank NTAG 424 DNA cards can be programmed. Set this card aside.',
  },
  card_check_failed: {
    kind: 'error',
    da: 'Kortet svarede ikke rigtigt efter programmering',
    en: 'The card did not answer correctly after programming',
    action_da: 'Læg kortet til side som defekt, og læg det næste på.',
    action_en: 'Set the card aside as faulty and lay on the next one.',
  },
  journal_mismatch: {
    kind: 'error',
    da: 'Journalfilen hører til et andet kortparti',
    en: 'The journal file belongs to another batch',
    action_da: 'Brug journalfilen for dette kortparti, eller vælg et nyt filnavn med --journal.',
    action_en: 'Use this batch’s journal file, or choose a new file name with --journal.',
  },
  import_invalid: {
    kind: 'error',
    da: 'Importfilen har fejl; intet er importeret',
    en: 'The import file has errors; nothing was imported',
    action_da: 'Ret de viste linjer i filen, og kør importen igen.',
    action_en: 'Correct the lines listed and run the import again.',
  },
  enrolment_refused: {
    kind: 'error',
    da: 'Tilmeldingen blev afvist',
    en: 'Enrolment refused',
    action_da:
      'Koden er brugt, udløbet eller forkert. Lav en ny på gatewayen (`kantine-gateway reader enrol`), og skriv den i læserens reader.json.',
    action_en:
      'The token was used, has expired or is wrong. Make a new one on the gateway (`kantine-gateway reader enrol`) and put it in the reader’s reader.json.',
  },
  release_unsigned: {
    kind: 'error',
    da: 'Udgivelsen er ikke signeret',
    en: 'The release is not signed',
    action_da: 'Installér kun udgivelser signeret med kommunens udgivelsesnøgle (`kantine release build --sign-key`).',
    action_en: 'Install only releases signed with the municipality’s release key (`kantine release build --sign-key`).',
  },
  release_tampered: {
    kind: 'error',
    da: 'Udgivelsen er ændret efter signering, eller signaturen passer ikke til nøglen',
    en: 'The release was changed after signing, or its signature does not match the key',
    action_da: 'Brug ikke denne udgivelse. Byg og signér den igen fra kildekoden.',
    action_en: 'Do not use this release. Build and sign it again from source.',
  },
  central_unreachable: {
    kind: 'error',
    da: 'Det centrale system svarer ikke',
    en: 'The central system does not answer',
    action_da: 'Tjek adressen (--central) og netværket; kør kommandoen igen, den kan gentages.',
    action_en: 'Check the address (--central) and the network, then run the command again: it is safe to repeat.',
  },
  internal_error: { kind: 'error', da: 'Intern fejl', en: 'Internal error' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof codes;
export type DeclineCode = {
  [K in Code]: (typeof codes)[K]['kind'] extends 'decline' ? K : never;
}[Code];
export type ErrorCode = Exclude<Code, DeclineCode>;

export const declineCodes = Object.keys(codes).filter((c) => codes[c as Code].kind === 'decline') as DeclineCode[];

/**
 * An operating error with a stable code. Programmer errors are plain `Error`s (or assertions);
 * anything a user, a reader or a config file can cause is a `KantineError`.
 */
export class KantineError extends Error {
  readonly code: Code;
  /** Machine-readable details, e.g. `path message` lines from schema validation. */
  readonly details: readonly string[];

  constructor(code: Code, message?: string, details: readonly string[] = []) {
    super(message ?? codes[code].en);
    this.name = 'KantineError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: Code; message: string; details: readonly string[] } {
    return { code: this.code, message: this.message, details: this.details };
  }
}
