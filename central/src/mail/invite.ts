import type { Tx } from '../db/tx.ts';
import { queueMail } from './outbox.ts';

/**
 * The relation invitation's mail, queued in the invite's own transaction: the link is
 * `<public_url>/invitation/<token>` (the portal's page signs the relation in and accepts it).
 */
export async function queueInviteMail(
  t: Tx,
  invite: { account_id: string; invited_by: string; email: string; token: string; expires_at: Date },
  publicUrl: string,
): Promise<void> {
  const [names] = await t.sql.query<{ child: string; inviter: string | null }>(
    'SELECT a.first_name AS child, p.name AS inviter FROM accounts a LEFT JOIN people p ON p.id = $2 WHERE a.id = $1',
    [invite.account_id, invite.invited_by],
  );
  await queueMail(t.sql, t.now, invite.email, {
    type: 'relation_invite',
    child_name: names?.child ?? '',
    inviter_name: names?.inviter ?? '',
    link: `${publicUrl}/invitation/${invite.token}`,
    expires_at: invite.expires_at,
  });
}
