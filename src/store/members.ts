/** Members as the rules see them. */
import { type Db, stmt } from './db.js';

export function memberPartner(db: Db, userId: string): { found: boolean; partner: string | null } {
  const row = stmt(db, 'SELECT partner FROM members WHERE user_id = ?').get(userId) as { partner: string | null } | undefined;
  return { found: row !== undefined, partner: row?.partner ?? null };
}
