/** Members as the rules see them. */
import { type Db, stmt } from './db.js';

export function memberPartner(db: Db, userId: string): { found: boolean; partner: string | null } {
  const row = stmt(db, 'SELECT partner FROM members WHERE user_id = ?').get(userId) as { partner: string | null } | undefined;
  return { found: row !== undefined, partner: row?.partner ?? null };
}

/** Whether anything is stored of this member: a record, an event or a grant. */
export function memberKnown(db: Db, userId: string): boolean {
  return (
    stmt(db, 'SELECT 1 FROM members WHERE user_id = ?').get(userId) !== undefined ||
    stmt(db, 'SELECT 1 FROM daily_activity WHERE user_id = ? LIMIT 1').get(userId) !== undefined ||
    stmt(db, 'SELECT 1 FROM grants WHERE user_id = ? LIMIT 1').get(userId) !== undefined
  );
}

/** Member ids that differ from `userId` only in case, or start with it: what a typo most likely meant. */
export function membersLike(db: Db, userId: string, limit = 3): string[] {
  return stmt(db, `SELECT user_id FROM members WHERE lower(user_id) = lower(?) OR (length(?) >= 3 AND substr(user_id, 1, length(?)) = ?) ORDER BY user_id LIMIT ${limit}`)
    .pluck()
    .all(userId, userId, userId, userId) as string[];
}
