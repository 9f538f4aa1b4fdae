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
  tap_stale: {
    kind: 'decline',
    da: 'Betalingen kom for sent frem',
    en: 'Tap arrived too late',
    action_da: 'Læseren havde allerede vist "intet svar". Intet er trukket. Bed barnet om at bippe igen.',
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
    da: 'For mange forkerte PIN-koder fra denne skærm – vent lidt',
    en: 'Too many wrong PINs from this screen – wait a while',
  },
  screen_not_paired: {
    kind: 'error',
    da: 'Skærmen er ikke parret med kassen – bed IT om et parringslink',
    en: 'This screen is not paired with the till – ask IT for a pairing link',
  },
  metrics_refused: {
    kind: 'error',
    da: 'Målinger kun på gatewayens egen maskine eller med overvågningsnøglen',
    en: 'Metrics only on the gateway machine or with the monitoring token',
  },
  origin_refused: {
    kind: 'error',
    da: 'Forbindelsen kommer ikke fra kassens egen side',
    en: 'The connection does not come from the kiosk’s own page',
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
  // ── Central's API: credentials, scopes and conflicts ─────────────────────────────────────────
  scope_denied: {
    kind: 'error',
    da: 'Nøglen må ikke bruges til dette',
    en: 'This API token’s scope does not allow the request',
    action_da: 'Brug en nøgle med det rigtige område (`kantine-central token add --scope …`).',
    action_en: 'Use a token of the right scope (`kantine-central token add --scope …`).',
  },
  api_token_in_config: {
    kind: 'error',
    da: 'Konfigurationen har en delt API-nøgle (http.token); den bruges ikke længere',
    en: 'The config has a shared API token (http.token); it is no longer used',
    action_da: 'Fjern http.token, og lav en nøgle pr. bruger med `kantine-central token add --scope … --name …`.',
    action_en: 'Remove http.token and make one token per user with `kantine-central token add --scope … --name …`.',
  },
  database_in_use: {
    kind: 'error',
    da: 'Den indlejrede database bruges af en kørende central',
    en: 'The embedded database is in use by a running central',
    action_da: 'Stop central først (eller brug Postgres), og kør kommandoen igen.',
    action_en: 'Stop central first (or run on Postgres), then run the command again.',
  },
  cpr_taken: {
    kind: 'error',
    da: 'CPR-nummeret hører allerede til en anden',
    en: 'The CPR number already belongs to someone else',
  },
  entry_id_reused: {
    kind: 'error',
    da: 'Id’et er allerede brugt til en anden postering',
    en: 'The id was already used for another entry',
  },
  // ── What central refuses of a site's reports (set aside, alarmed; the site's later changes flow) ──
  link_account_not_served: {
    kind: 'error',
    da: 'Skolen betjener ikke denne konto',
    en: 'The site does not serve this account',
  },
  link_void_mismatch: {
    kind: 'error',
    da: 'Annulleringen passer ikke til salget, den annullerer',
    en: 'The void does not match the sale it voids',
  },
  link_share_exceeded: {
    kind: 'error',
    da: 'Skolen brugte mere end sin andel af kontoen',
    en: 'The site used more than its share of the account',
  },
  link_resync_held: {
    kind: 'error',
    da: 'Skolen blev lige synkroniseret igen; beskeden venter',
    en: 'The site was resynced a moment ago; its message waits',
  },
  link_entry_invalid: {
    kind: 'error',
    da: 'Skolens postering er ugyldig',
    en: 'The site’s entry is not valid',
  },
  batch_key_conflict: {
    kind: 'error',
    da: 'Kortpartiet findes allerede med en anden nøgle',
    en: 'The card batch already exists with another key',
    action_en: 'A batch’s key never changes: program new cards under a new batch id.',
  },
  demo_batch_refused: {
    kind: 'error',
    da: 'Demo-kortpartier (DEMO-…) bruges kun i demoen',
    en: 'Demo card batches (DEMO-…) are for the demo only',
    action_en: 'Their keys are made from public text: use a batch with random keys from `kantine batch`.',
  },
  link_change_too_large: {
    kind: 'error',
    da: 'En ændring fra centralen var for stor til forbindelsen og er lagt til side',
    en: 'A change from central was too large for the link and was set aside',
  },
  link_change_failed: {
    kind: 'error',
    da: 'En ændring fra centralen kunne ikke bruges her og er lagt til side',
    en: 'A change from central could not be applied here and was set aside',
  },
  link_plain_text: {
    kind: 'error',
    da: 'Forbindelsen til centralen må ikke gå ukrypteret ud over denne maskine',
    en: 'The link to central may not leave this machine in plain text',
    action_en:
      'Use TLS (mqtt.tls "auto" at central, an mqtts:// URL and central’s CA at the site), or listen on 127.0.0.1 only',
  },
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
  // ── People: sign-in, sessions and roles (issue 17) ──────────────────────────────────────────
  csrf_failed: {
    kind: 'error',
    da: 'Formularen er for gammel; genindlæs siden, og prøv igen',
    en: 'The form is out of date; reload the page and try again',
  },
  identity_not_configured: {
    kind: 'error',
    da: 'Login med MitID er ikke sat op på denne central',
    en: 'Sign-in with MitID is not set up on this central',
    action_da: 'IT sætter `identity` i centralens konfiguration (se docs/operations/identity.md).',
    action_en: 'IT sets `identity` in central’s config (see docs/operations/identity.md).',
  },
  cpr_key_invalid: {
    kind: 'error',
    da: 'CPR-nøglen kan ikke bruges',
    en: 'The CPR key cannot be used',
    action_da: 'IT retter KANTINE_CPR_KEY eller nøglefilen (se docs/operations/identity.md).',
    action_en: 'IT fixes KANTINE_CPR_KEY or the key file: base64 of 32 bytes, mode 0600 (docs/operations/identity.md).',
  },
  cpr_key_wrong: {
    kind: 'error',
    da: 'Databasens CPR-numre er låst med en anden CPR-nøgle',
    en: 'The database’s CPR numbers were sealed with another CPR key',
    action_da: 'IT starter centralen med den nøgle, databasen blev låst med (se docs/operations/identity.md).',
    action_en:
      'IT starts central with the key the database was sealed with (docs/operations/identity.md, "The CPR key").',
  },
  account_not_matched: {
    kind: 'error',
    da: 'Vi kunne ikke finde en konto, du kan tilføje, med de oplysninger',
    en: 'No account you may add matches what you typed',
    action_da: 'Tjek barnets CPR-nummer og kortnummeret. Hjælper det ikke, så kontakt skolens kontor.',
    action_en: 'Check the child’s CPR number and the card number; otherwise ask the school office.',
  },
  guardian_self_refused: {
    kind: 'error',
    da: 'Du kan ikke gøre dig selv til værge for et barn',
    en: 'You cannot make yourself a child’s guardian',
    action_da: 'En kollega på kontoret eller kommunen skal skrive dit CPR-nummer på barnet.',
    action_en: 'A colleague at the office or the municipality must put your CPR number on the child.',
  },
  too_many_attempts: {
    kind: 'error',
    da: 'For mange forsøg; vent lidt, og prøv igen',
    en: 'Too many attempts; wait a while and try again',
  },
  invite_invalid: {
    kind: 'error',
    da: 'Invitationen er brugt, udløbet eller findes ikke',
    en: 'The invitation is used, expired or unknown',
    action_da: 'Bed barnets forælder om en ny invitation.',
  },
  cpr_mismatch: {
    kind: 'error',
    da: 'Dit login har et andet CPR-nummer end før',
    en: 'Your login carries another CPR number than before',
    action_da: 'Kontakt kommunens administrator.',
    action_en: 'The identity provider sent another CPR number for this person: an administrator looks into it.',
  },
  login_state_unknown: {
    kind: 'error',
    da: 'Login er udløbet eller allerede brugt; start forfra',
    en: 'The sign-in expired or was used already; start again',
    action_da: 'Gå til forsiden og log ind igen (i samme browser, inden for 10 minutter).',
  },
  login_failed: {
    kind: 'error',
    da: 'Login lykkedes ikke',
    en: 'The sign-in did not succeed',
    action_da: 'Prøv igen. Sker det igen, så kontakt kommunens IT.',
    action_en: 'The provider refused the code or its ID token failed a check: see central’s log for the reason.',
  },
  cpr_missing: {
    kind: 'error',
    da: 'Login gav ikke dit CPR-nummer',
    en: 'The sign-in did not give your CPR number',
    action_da: 'Log ind igen, og bekræft dit CPR-nummer i MitID.',
    action_en: 'Switch on CPR collection at the broker and check `identity.claims.cpr` (docs/operations/identity.md).',
  },
  return_path_refused: {
    kind: 'error',
    da: 'Adressen efter login skal være en side på denne portal',
    en: 'The address after sign-in must be a page of this portal',
  },
  identity_insecure: {
    kind: 'error',
    da: 'Login-udbyderen nås uden kryptering uden for denne maskine',
    en: 'The identity provider would be reached in plain text beyond this machine',
    action_en: 'Use https:// for identity.issuer and identity.public_url (http:// only on loopback).',
  },
  identity_provider_unreachable: {
    kind: 'error',
    da: 'Login-udbyderen svarer ikke',
    en: 'The identity provider does not answer',
    action_da: 'Prøv igen om lidt.',
    action_en: 'Check identity.issuer and the network; central tries discovery again at the next sign-in.',
  },
  // ── Payments: the provider's answers (card payments, card-on-file charges, webhooks) ─────────
  payment_declined: {
    kind: 'error',
    da: 'Betalingen blev afvist',
    en: 'The payment was declined',
    action_da: 'Prøv et andet kort, eller kontakt din bank.',
  },
  payment_card_expired: {
    kind: 'error',
    da: 'Betalingskortet er udløbet',
    en: 'The payment card has expired',
    action_da: 'Skift kortet til automatisk optankning på portalen.',
  },
  payment_insufficient_funds: {
    kind: 'error',
    da: 'Der er ikke penge nok på betalingskortet',
    en: 'The payment card has insufficient funds',
    action_da: 'Prøv igen senere, eller brug et andet kort.',
  },
  payment_card_blocked: {
    kind: 'error',
    da: 'Betalingskortet er spærret, eller aftalen er opsagt',
    en: 'The payment card is blocked, or the agreement was revoked',
    action_da: 'Lav en ny aftale om automatisk optankning med et andet kort.',
  },
  payment_provider_unreachable: {
    kind: 'error',
    da: 'Betalingsudbyderen svarer ikke',
    en: 'The payment provider does not answer',
    action_da: 'Prøv igen om lidt. Der er ikke trukket penge to gange.',
    action_en: 'A timeout, a refused connection or a 5xx from the provider: retry with the same idempotency key.',
  },
  payment_webhook_refused: {
    kind: 'error',
    da: 'Besked fra betalingsudbyderen afvist',
    en: 'A payment provider notification was refused',
    action_en:
      'Its signature or Authorization header did not match: check payments.webhook_secret / webhook_authorization.',
  },
  payment_not_found: {
    kind: 'error',
    da: 'Betalingen findes ikke hos betalingsudbyderen',
    en: 'The payment provider does not know this payment',
  },
  payment_request_refused: {
    kind: 'error',
    da: 'Betalingsudbyderen afviste forespørgslen',
    en: 'The payment provider refused the request',
    action_en:
      'The provider answered 4xx to a request it should accept: check the API key and the amounts; see the details.',
  },
  mail_insecure: {
    kind: 'error',
    da: 'Mail ville blive sendt ukrypteret uden for denne maskine',
    en: 'Mail would be sent in plain text beyond this machine',
    action_en:
      'Use smtps:// for mail.smtp_url, or smtp:// with mail.starttls "required" (plain smtp:// only on loopback).',
  },
  payouts_not_configured: {
    kind: 'error',
    da: 'Udbetalinger er ikke sat op',
    en: 'Payouts are not set up',
    action_da: 'Kontakt kommunen.',
    action_en:
      "Give central's config a payouts section (the municipality's debtor account): docs/operations/payouts.md.",
  },
  payout_account_invalid: {
    kind: 'error',
    da: 'Kontonummeret er ikke gyldigt: reg.nr. er 4 cifre og kontonummeret op til 10 cifre',
    en: 'The account number is not valid: the reg. no. is 4 digits and the account number up to 10 digits',
    action_da: 'Ret reg.nr. og kontonummer og prøv igen.',
    action_en: 'Correct the reg. no. and account number and try again.',
  },
  payout_nemkonto_off: {
    kind: 'error',
    da: 'Udbetaling til NemKonto er ikke slået til',
    en: 'Payout to NemKonto is not available',
    action_da: 'Angiv et reg.nr. og kontonummer.',
    action_en: 'Give a reg. no. and account number (the municipality has not turned NemKonto payouts on).',
  },
  // nemkonto:
  payout_cpr_missing: {
    kind: 'error',
    da: 'Vi har ikke dit CPR-nummer bekræftet af MitID, så vi kan ikke udbetale til din NemKonto',
    en: 'We do not have your CPR number confirmed by MitID, so we cannot pay out to your NemKonto',
    action_da: 'Angiv et reg.nr. og kontonummer i stedet, eller log ud og ind igen med MitID.',
    action_en: 'Give a reg. no. and account number instead, or sign out and in again with MitID.',
  },
  payout_batch_state: {
    kind: 'error',
    da: 'Udbetalingsbunken er ikke i den rette tilstand til dette',
    en: 'The payout batch is not in the state this needs',
    action_da: 'Hent listen over bunker igen.',
    action_en: 'Close an open batch before its export; mark sent only a closed batch.',
  },
  // — portalchild (issue 18): a child's photo —
  photo_invalid: {
    kind: 'error',
    da: 'Filen er ikke et billede i JPEG, PNG eller WebP',
    en: 'The file is not a JPEG, PNG or WebP picture',
    action_da: 'Vælg et foto i JPEG, PNG eller WebP (fx fra telefonens kamera).',
    action_en: 'Choose a JPEG, PNG or WebP photo (e.g. from a phone camera).',
  },
  photo_too_large: {
    kind: 'error',
    da: 'Billedet er for stort',
    en: 'The picture is too large',
    action_da: 'Vælg et billede på højst 8 MB og 40 megapixel.',
    action_en: 'Choose a picture of at most 8 MB and 40 megapixels.',
  },
  // — topup (issue 19): payments into an account through the provider —
  payments_not_configured: {
    kind: 'error',
    da: 'Indbetaling med kort er ikke sat op',
    en: 'Card payments are not set up',
    action_da: 'Kontakt kommunen.',
    action_en: "Give central's config a payments section (the provider and its keys): docs/operations/payments.md.",
  },
  topup_amount_invalid: {
    kind: 'error',
    da: 'Beløbet skal være hele kroner mellem mindste og største indbetaling',
    en: 'The amount must be whole kroner between the smallest and the largest top-up',
    action_da: 'Skriv et helt antal kroner inden for grænserne.',
    action_en: 'Give amount_ore as whole kroner (a multiple of 100) within payments.topup.min_kr and max_kr.',
  },
  topup_over_max_balance: {
    kind: 'error',
    da: 'Indbetalingen ville bringe saldoen over det højeste tilladte beløb',
    en: 'The top-up would take the balance above the highest allowed',
    action_da: 'Indbetal et mindre beløb.',
    action_en: 'The balance with its pending top-ups may not pass payments.topup.max_balance_kr.',
  },
  terms_not_accepted: {
    kind: 'error',
    da: 'Du skal acceptere betingelserne',
    en: 'You must accept the terms',
    action_da: 'Sæt kryds ved betingelserne og prøv igen.',
    action_en: 'Send terms_accepted: true.',
  },
  reconciliation_differences: {
    kind: 'error',
    da: 'Betalingsudbyderens betalinger og kantinens bogføring stemmer ikke',
    en: "The provider's payments and central's books differ",
    action_en: 'See the reconciliation report (GET /api/payments/reconciliation): every difference is listed.',
  },
  // — webshop —
  webshop_relation_not_allowed: {
    kind: 'error',
    da: 'En forælder har ikke givet dig adgang til webshoppen for dette barn',
    en: 'No guardian has let you use the webshop for this child',
    action_da: 'Bed barnets forælder om at give dig adgang under Relationer.',
    action_en: "Ask the child's guardian to allow it under Relations.",
  },
  webshop_order_closed: {
    kind: 'error',
    da: 'Der kan ikke længere bestilles til denne dag',
    en: 'Ordering for this day has closed',
    action_da: 'Vælg en senere dag.',
    action_en: 'Choose a later day.',
  },
  webshop_cancel_closed: {
    kind: 'error',
    da: 'Ordren kan ikke længere annulleres',
    en: 'The order can no longer be cancelled',
    action_da: 'Fristen for at annullere er overskredet.',
    action_en: 'The cancel deadline has passed.',
  },
  webshop_not_on_menu: {
    kind: 'error',
    da: 'Varen er ikke på menuen den dag',
    en: 'The item is not on the menu that day',
  },
  webshop_sold_out: {
    kind: 'error',
    da: 'Der er ikke flere af varen den dag',
    en: 'The item is sold out that day',
    action_da: 'Vælg færre eller en anden vare.',
    action_en: 'Choose fewer or another item.',
  },
  webshop_order_state: {
    kind: 'error',
    da: 'Ordren kan ikke ændres i sin nuværende tilstand',
    en: 'The order cannot be changed in its current state',
  },
  webshop_bank_card_unavailable: {
    kind: 'error',
    da: 'Betaling med betalingskort er ikke muligt lige nu',
    en: 'Paying by bank card is not available just now',
    action_da: 'Betal med kantinekortet, eller prøv igen senere.',
    action_en: 'Pay by canteen card, or try again later.',
  },
  webshop_menu_invalid: {
    kind: 'error',
    da: 'Menuen er ikke gyldig',
    en: 'The menu is not valid',
    action_da: 'Fristen for at annullere skal ligge før bestillingsfristen, og begge senest på dagen.',
    action_en: 'The cancel deadline comes before the order deadline, both at the latest on the day.',
  },
  // — portalcards —
  card_number_invalid: {
    kind: 'error',
    da: 'Kortnummeret er ikke gyldigt',
    en: 'That is not a valid card number',
    action_da: 'Skriv de 8 tegn efter de første 4 cifre på kortets bagside, med store bogstaver, fx 7K3M-Q9XA.',
    action_en: 'Type the 8 characters after the first 4 digits on the back of the card, e.g. 7K3M-Q9XA.',
  },
  card_not_in_stock: {
    kind: 'error',
    da: 'Der er ikke et nyt kort med det nummer på barnets skole',
    en: 'There is no new card with that number at the child’s school',
    action_da: 'Tjek nummeret på kortets bagside. Hjælper det ikke, så kontakt skolens kontor.',
    action_en: 'Check the number on the back of the card; otherwise ask the school office.',
  },
  card_in_use: {
    kind: 'error',
    da: 'Kortet er allerede taget i brug',
    en: 'That card is already in use',
    action_da: 'Et kort kan kun aktiveres én gang. Kontakt skolens kontor.',
    action_en: 'A card can be activated once only; ask the school office.',
  },
  card_order_open: {
    kind: 'error',
    da: 'Der er allerede bestilt et nyt kort til barnet',
    en: 'A new card is already on order for this child',
    action_da: 'Hent kortet på skolens kontor, og aktivér det her.',
    action_en: 'Collect the card at the school office and activate it here.',
  },
  card_order_no_school: {
    kind: 'error',
    da: 'Barnet er ikke tilknyttet en skole, der udleverer kort',
    en: 'The child is not at a school that hands out cards',
    action_da: 'Kontakt kommunen.',
    action_en: 'Contact the municipality.',
  },
  support_request_closed: {
    kind: 'error',
    da: 'Henvendelsen er lukket',
    en: 'The request is closed',
  },
  // — autotopup (issue 19: automatic top-up) —
  autotopup_no_agreement: {
    kind: 'error',
    da: 'Der er ingen aktiv aftale om automatisk optankning',
    en: 'There is no active automatic top-up agreement',
    action_da: 'Lav en aftale om automatisk optankning på portalen.',
  },
  autotopup_unknown_purchase: {
    kind: 'error',
    da: 'Automatisk optankning uden et kendt køb på skolen',
    en: 'An automatic top-up request without a purchase central knows from this site',
    action_en: 'A site asked for a top-up no purchase of its own explains: it is refused (see refused_up).',
  },
  autotopup_not_needed: {
    kind: 'error',
    da: 'Saldoen er ikke under grænsen for automatisk optankning',
    en: 'The balance is not under the automatic top-up threshold',
  },
  autotopup_in_flight: {
    kind: 'error',
    da: 'En automatisk optankning er allerede i gang',
    en: 'An automatic top-up is already under way',
  },
  autotopup_daily_cap: {
    kind: 'error',
    da: 'Der er fyldt automatisk op så mange gange, som der må i dag',
    en: 'The account has had as many automatic top-ups today as allowed',
    action_en: 'autotopup.max_charges_per_day in central config.',
  },
  autotopup_agreement_exists: {
    kind: 'error',
    da: 'Der er allerede en aftale om automatisk optankning',
    en: 'There already is an automatic top-up agreement',
    action_da: 'Skift kortet eller opsig aftalen først.',
  },
  autotopup_amount_invalid: {
    kind: 'error',
    da: 'Beløbet til automatisk optankning skal være hele kroner inden for grænserne',
    en: 'The automatic top-up amount must be whole kroner within the limits',
  },
  low_balance_threshold_invalid: {
    kind: 'error',
    da: 'Grænsen for besked om lav saldo skal være hele kroner mellem 1 og 1.000',
    en: 'The low-balance alert threshold must be whole kroner between 1 and 1,000',
  },
  // portalfix: a child's settings name only the municipality's categories and allergens —
  catalogue_unknown: {
    kind: 'error',
    da: 'Kategorien eller allergenet findes ikke på kommunens liste',
    en: 'The category or allergen is not on the municipality’s list',
    action_da: 'Vælg blandt kommunens kategorier og allergener (GET /api/catalogue).',
    action_en: 'Choose from the municipality’s categories and allergens (GET /api/catalogue).',
  },
  // shopfix: a pre-order is handed out on its own day only.
  preorder_wrong_day: {
    kind: 'error',
    da: 'Forudbestillingen er til en anden dag',
    en: 'The pre-order is for another day',
    action_da: 'Ordren kan kun udleveres på den dag, den er bestilt til.',
    action_en: 'An order can be handed out only on the day it was ordered for.',
  },
  // moneyfix:
  payment_amount_mismatch: {
    kind: 'error',
    da: 'Betalingsudbyderen trak et andet beløb end bedt om; beløbet er sendt retur',
    en: 'The payment provider took another amount than asked; it was refunded',
    action_en: 'Nothing was credited and the refund was made at the provider; reconciliation lists the payment.',
  },
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
