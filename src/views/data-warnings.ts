/**
 * What a config asks of data the database does not have: event types never seen, `where` keys no
 * event of the type carries, campaigns with no activity in their window. Not errors (the data may
 * not have arrived yet), but a typo such as `data_loged` costs 0 in a dry run without them.
 */
import type { Config } from '../config/schema.js';
import { activityInWindow, eventTypeSeen, propertySeen } from '../store/activity.js';
import type { Db } from '../store/db.js';

export function dataWarnings(db: Db, config: Config): string[] {
  const out: string[] = [];
  const seen = new Map<string, boolean>();
  const typeSeen = (t: string) => {
    if (!seen.has(t)) seen.set(t, eventTypeSeen(db, t));
    return seen.get(t)!;
  };
  config.campaigns.forEach((c, i) => {
    c.rules.forEach((r, j) => {
      const at = `campaigns[${i}].rules[${j}]`;
      if (!typeSeen(r.event_type)) {
        out.push(`${at}.event_type: no event of type "${r.event_type}" is stored; check the spelling against the exports`);
        return;
      }
      for (const key of Object.keys(r.where ?? {})) {
        if (!propertySeen(db, r.event_type, key)) out.push(`${at}.where.${key}: no stored "${r.event_type}" event has a property "${key}"`);
      }
    });
    const types = [...new Set(c.rules.map((r) => r.event_type))];
    if (types.some(typeSeen) && !activityInWindow(db, types, c.start, c.end)) {
      out.push(`campaigns[${i}]: no event of its rules' types is dated in its window ${c.start}..${c.end}`);
    }
  });
  return out;
}
