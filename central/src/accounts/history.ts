import type { AuditRow } from '../audit/audit.ts';

/**
 * What a guardian reads of their child's audit lines: who did what to the account, when. Only
 * changes that went through (2xx); a refused attempt is for the municipality's IT, not a family.
 * The actor is a name — a person's (from their sign-in) or a service token's — never a CPR
 * number, and the route becomes words.
 */
export interface AccountHistoryLine {
  at: string;
  /** The person's or the token's name. */
  who: string;
  /** `person` for someone signed in, `service` for a token. */
  who_kind: 'person' | 'service';
  /** The role they acted in: guardian, relation, admin, finance, office; or the token's scope. */
  role: string;
  /** The route or command (`PATCH /api/accounts/:account`). */
  action: string;
  /** What was done, in Danish, and in English beside it. */
  text_da: string;
  text_en: string;
  /** The ids it was about (the account, a card number, the groups changed). */
  target: Record<string, string>;
}

const GROUP_WORDS: Record<string, { da: string; en: string }> = {
  name: { da: 'navn', en: 'name' },
  place_kinds: { da: 'forbrugssteder', en: 'places' },
  limits: { da: 'maks forbrug', en: 'spending limits' },
  allergies: { da: 'allergier', en: 'allergies' },
  photo: { da: 'foto', en: 'photo' },
  auto_topup_ore: { da: 'automatisk optankning', en: 'automatic top-up' },
  denied_categories: { da: 'tilladelser', en: 'permissions' },
  sites: { da: 'skole og klub', en: 'school and club' },
};

/** The words for a route (the audit log's `action`), or undefined for one a family need not read. */
function words(action: string, target: Record<string, string>): { da: string; en: string } {
  // The number as printed (the handler notes it), else as it was typed in the URL.
  const number = target.card_number ?? target.number;
  const card = number ? ` ${number}` : '';
  switch (action) {
    case 'PATCH /api/accounts/:account': {
      const groups = (target.groups ?? '').split(',').filter((g) => g in GROUP_WORDS);
      const da = groups.map((g) => GROUP_WORDS[g]?.da).join(', ');
      const en = groups.map((g) => GROUP_WORDS[g]?.en).join(', ');
      return groups.length > 0
        ? { da: `Ændrede ${da}`, en: `Changed ${en}` }
        : { da: 'Ændrede kontoens indstillinger', en: 'Changed the account’s settings' };
    }
    case 'PUT /api/accounts/:account':
      return { da: 'Oprettede eller ændrede kontoen', en: 'Created or changed the account' };
    case 'POST /api/accounts/:account/deposits':
      return { da: 'Indsatte penge', en: 'Topped up' };
    case 'POST /api/accounts/:account/withdrawals':
      return { da: 'Hævede penge (udbetaling eller gebyr)', en: 'Withdrew money (a pay-out or a fee)' };
    case 'POST /api/accounts/:account/payouts':
      return target.to === 'nemkonto'
        ? { da: 'Bad om udbetaling til NemKonto', en: 'Asked for a payout to NemKonto' }
        : { da: 'Bad om udbetaling til bankkonto', en: 'Asked for a payout to a bank account' };
    case 'POST /api/accounts/:account/cards/:number/block':
      return { da: `Spærrede kortet${card}`, en: `Blocked the card${card}` };
    case 'POST /api/accounts/:account/cards/:number/unblock':
      return { da: `Genåbnede kortet${card}`, en: `Re-opened the card${card}` };
    case 'POST /api/accounts/:account/relations':
      return { da: 'Tilføjede en relation', en: 'Added a relation' };
    case 'POST /api/accounts/:account/relations/:person/remove':
      return { da: 'Fjernede en relation', en: 'Removed a relation' };
    case 'PUT /api/accounts/:account/guardian-cprs':
      return { da: 'Satte kontoens forældre', en: 'Set the account’s guardians' };
    default:
      return { da: action, en: action };
  }
}

export function historyLine(row: AuditRow): AccountHistoryLine {
  const target = { ...row.target };
  const w = words(row.action, target);
  return {
    at: new Date(row.at).toISOString(),
    who: row.token_name,
    who_kind: row.person_id ? 'person' : 'service',
    role: row.scope,
    action: row.action,
    text_da: w.da,
    text_en: w.en,
    target,
  };
}

/** The lines of an account's audit log a guardian sees, newest first. */
export function accountHistory(rows: readonly AuditRow[]): AccountHistoryLine[] {
  return rows
    .filter((r) => r.status !== null && r.status >= 200 && r.status < 300)
    .map(historyLine)
    .reverse();
}
