/** When partner exports are due, and which nights a nightly must run. */
import type { Config, Partner } from '../config/schema.js';
import { addDays, parseDate } from '../time/datetime.js';

/**
 * Whether a partner's export is due for as-of date `asOf`:
 * daily every night; weekly for weeks ending on Sunday; monthly as of a month's last day (the first
 * night of the next month); yearly as of December 31st; on_close as of the first day one of the partner's campaigns is closed.
 * Daily, weekly and monthly exports stop after the first one due once all the partner's campaigns are closed.
 */
export function exportDue(p: Partner, config: Config, asOf: string): boolean {
  if (!onSchedule(p, config, asOf)) return false;
  if (p.schedule !== 'daily' && p.schedule !== 'weekly' && p.schedule !== 'monthly') return true;
  // Once every campaign of the partner is closed, the first scheduled export from then on is its
  // last: later ones would repeat the same data every night.
  const closes = config.campaigns.filter((c) => p.campaigns.includes(c.id)).map((c) => addDays(c.end, c.grace_days + 1));
  if (closes.length === 0) return true;
  let last = closes.reduce((a, b) => (a > b ? a : b));
  while (!onSchedule(p, config, last)) last = addDays(last, 1);
  return asOf <= last;
}

function onSchedule(p: Partner, config: Config, asOf: string): boolean {
  switch (p.schedule) {
    case 'daily':
      return true;
    case 'weekly': {
      const d = parseDate(asOf)!;
      return new Date(Date.UTC(d.y, d.m - 1, d.d)).getUTCDay() === 0;
    }
    case 'monthly':
      return addDays(asOf, 1).slice(8) === '01';
    case 'yearly':
      return asOf.slice(5) === '12-31';
    case 'on_close':
      return config.campaigns.some((c) => p.campaigns.includes(c.id) && addDays(c.end, c.grace_days + 1) === asOf);
  }
}

/**
 * The as-of dates a nightly must run: the missed ones since the last completed night (oldest
 * first), then `asOf` itself.
 */
export function nightsToRun(lastDone: string | null, asOf: string, catchUp: boolean): string[] {
  if (!catchUp || lastDone === null || lastDone >= asOf) return [asOf];
  const dates: string[] = [];
  for (let d = addDays(lastDone, 1); d <= asOf; d = addDays(d, 1)) dates.push(d);
  return dates;
}
