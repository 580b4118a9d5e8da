/** Rule semantics over a member's counted local days: streaks, first events, active days, counts, caps. */
import type { Rule } from '../config/schema.js';
import { addDays, daysBetween } from '../time/datetime.js';

/** One local date on which a member has at least one counted event, and how many. */
export interface DayCount {
  date: string;
  events: number;
}

export interface Earning {
  /** 1 for the member's first earning of this rule. */
  seq: number;
  earned_on: string;
}

/** The most grants a member can have of a rule. */
export function grantCap(rule: Rule): number {
  return rule.repeat ? rule.max_per_user : 1;
}

/**
 * Days since 1970-01-01 of the YYYY-MM-DD date at `at` in `text` (proleptic Gregorian; H. Hinnant's
 * days_from_civil). The rules compare every counted day with the one before it: date arithmetic
 * through Date and a regex was a tenth of a run's time, and a date inside a longer text needs no
 * string of its own.
 */
export function dayNumber(text: string, at = 0): number {
  const m = (text.charCodeAt(at + 5) - 48) * 10 + text.charCodeAt(at + 6) - 48;
  const d = (text.charCodeAt(at + 8) - 48) * 10 + text.charCodeAt(at + 9) - 48;
  const y =
    (text.charCodeAt(at) - 48) * 1000 + (text.charCodeAt(at + 1) - 48) * 100 + (text.charCodeAt(at + 2) - 48) * 10 + text.charCodeAt(at + 3) - 48 - (m <= 2 ? 1 : 0);
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/** A member's counted days in date order, as the rules read them. */
export interface CountedDays {
  readonly length: number;
  date(i: number): string;
  /** dayNumber of date(i). */
  day(i: number): number;
  events(i: number): number;
}

class ArrayDays implements CountedDays {
  constructor(private readonly days: readonly DayCount[]) {}
  get length() {
    return this.days.length;
  }
  date(i: number) {
    return this.days[i]!.date;
  }
  day(i: number) {
    return dayNumber(this.days[i]!.date);
  }
  events(i: number) {
    return this.days[i]!.events;
  }
}

/** Dates joined by ',' (fixed width: date i at i * 11), their day numbers, and the event counts joined by ','. */
class JoinedDays implements CountedDays {
  private counted: number[] | undefined;
  constructor(
    private readonly dates: string,
    private readonly days: Int32Array,
    private readonly counts: string,
  ) {}
  get length() {
    return this.days.length;
  }
  date(i: number) {
    return this.dates.slice(i * 11, i * 11 + 10);
  }
  day(i: number) {
    return this.days[i]!;
  }
  events(i: number) {
    // Only event_count rules need the counts: parsed on first use.
    return (this.counted ??= this.counts.split(',').map(Number))[i]!;
  }
}

/**
 * A member's days as the store hands them over in bulk: the dates joined by ',' and the event
 * counts joined by ','. Read in place: a JavaScript object per counted day cost more than the
 * query that found it (a run evaluates millions). Dates out of order are sorted, and a date given
 * twice counts the events of both.
 */
export function joinedDays(dates: string, counts: string): CountedDays {
  const n = (dates.length + 1) / 11;
  if (Number.isInteger(n)) {
    const days = new Int32Array(n);
    let i = 0;
    for (; i < n; i++) {
      days[i] = dayNumber(dates, i * 11);
      if (i > 0 && days[i]! <= days[i - 1]!) break;
    }
    if (i === n) return new JoinedDays(dates, days, counts);
  }
  const cs = counts.split(',');
  const byDate = new Map<string, number>();
  dates.split(',').forEach((date, i) => byDate.set(date, (byDate.get(date) ?? 0) + Number(cs[i])));
  return new ArrayDays([...byDate].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([date, events]) => ({ date, events })));
}

/**
 * All earnings of one member under one rule, from the member's counted days (sorted by date, already
 * limited to the campaign's counting window), capped at max_per_user (1 without repeat).
 * Pure: the same days always give the same earnings, which is what makes grants reproducible.
 */
export function evaluateRule(rule: Rule, counted: readonly DayCount[] | CountedDays): Earning[] {
  const days: CountedDays = Array.isArray(counted) ? new ArrayDays(counted) : (counted as CountedDays);
  const cap = grantCap(rule);
  const dates: string[] = [];
  const push = (date: string) => {
    if (dates.length < cap) dates.push(date);
    return dates.length >= cap;
  };
  switch (rule.type) {
    case 'first_event':
      if (days.length > 0) push(days.date(0));
      break;
    case 'streak': {
      let run = 0;
      let prev = NaN;
      for (let i = 0; i < days.length; i++) {
        const n = days.day(i);
        run = n - prev === 1 ? run + 1 : 1;
        prev = n;
        if (run % rule.days === 0 && push(days.date(i))) break;
      }
      break;
    }
    case 'active_days': {
      // Counting restarts the day after each earning; within that, a sliding window of window_days.
      let since = 0; // index of the first day that may count
      for (let i = 0; i < days.length; i++) {
        if (rule.window_days !== undefined) {
          const windowStart = days.day(i) - (rule.window_days - 1);
          while (days.day(since) < windowStart) since++;
        }
        if (i - since + 1 >= rule.min_days) {
          if (push(days.date(i))) break;
          since = i + 1;
        }
      }
      break;
    }
    case 'event_count': {
      let total = 0;
      let earned = 0;
      outer: for (let i = 0; i < days.length; i++) {
        total += days.events(i);
        while (total >= (earned + 1) * rule.min_events) {
          earned++;
          if (push(days.date(i))) break outer;
        }
      }
      break;
    }
  }
  return dates.map((earned_on, i) => ({ seq: i + 1, earned_on }));
}

export interface Streaks {
  longest: { length: number; from: string; to: string } | null;
  /** The run ending on the last counted day. */
  last: { length: number; from: string; to: string } | null;
}

/** The longest run of consecutive counted days, and the run ending on the last one. */
export function streaks(counted: readonly DayCount[] | CountedDays): Streaks {
  const days: CountedDays = Array.isArray(counted) ? new ArrayDays(counted) : (counted as CountedDays);
  type Run = { length: number; from: number; to: number };
  let longest: Run | null = null;
  let cur: Run | null = null;
  for (let i = 0; i < days.length; i++) {
    cur = cur && days.day(i) - days.day(cur.to) === 1 ? { from: cur.from, length: cur.length + 1, to: i } : { length: 1, from: i, to: i };
    if (!longest || cur.length > longest.length) longest = cur;
  }
  const dated = (r: Run | null) => r && { length: r.length, from: days.date(r.from), to: days.date(r.to) };
  return { longest: dated(longest), last: dated(cur) };
}

/** How far a member is from the next grant of a rule, as figures a script can read and as words. */
export interface Progress {
  /** What is counted: the rule type's own measure (or the per-member limit, once reached). */
  measure: 'first_event' | 'consecutive_days' | 'active_days' | 'events' | 'limit';
  needed: number;
  have: number;
  /** The days the figures are about: the run (streaks), the best window (active days), else the counting window. */
  window: { from: string; to: string } | null;
  /**
   * Dates without a counted event that would complete the next grant, within the campaign
   * (streaks: the days after the run; active days with a window: the best window's empty days);
   * null where no particular date is missing (first event, event counts, active days without a window, the limit).
   */
  dates_missing: string[] | null;
  /** The same in words an analyst can check: `4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged`. */
  text: string;
}

/** Dates from `from` on, at most `n`, up to `last`, that are not in `have`. */
function missingDates(from: string, n: number, last: string, have: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let d = from, i = 0; i < n && d <= last; d = addDays(d, 1), i++) if (!have.has(d)) out.push(d);
  return out;
}

/**
 * Why a member has not (yet) earned the next grant of a rule. `window` is the counting window as of
 * the date asked; `campaignEnd` the campaign's last day: once the window reaches it, no later day can count.
 */
export function progress(rule: Rule, days: readonly DayCount[], earnings: readonly Earning[], window: { from: string; to: string }, campaignEnd: string): Progress {
  const cap = grantCap(rule);
  const windowEnd = window.to;
  const countingEnded = windowEnd >= campaignEnd;
  if (earnings.length >= cap) return { measure: 'limit', needed: cap, have: earnings.length, window, dates_missing: null, text: `reached the limit of ${cap} grant(s) per member` };
  const after = earnings.length ? earnings[earnings.length - 1]!.earned_on : null;
  const what = rule.event_type;
  const counted = new Set(days.map((d) => d.date));
  switch (rule.type) {
    case 'first_event':
      return { measure: 'first_event', needed: 1, have: 0, window, dates_missing: null, text: `no counted ${what} event yet` };
    case 'streak': {
      // The runs of consecutive days since the last earning; the answer names the closest miss
      // (the most days of a run not completed), or the run still going on when counting goes on.
      const runs: { length: number; from: string; to: string }[] = [];
      for (const d of days) {
        if (after && d.date <= after) continue;
        const cur = runs[runs.length - 1];
        if (cur && daysBetween(cur.to, d.date) === 1) runs[runs.length - 1] = { from: cur.from, length: cur.length + 1, to: d.date };
        else runs.push({ length: 1, from: d.date, to: d.date });
      }
      const base = { measure: 'consecutive_days' as const, needed: rule.days };
      const last = runs[runs.length - 1];
      if (!last) {
        const from = after ? addDays(after, 1) : window.from;
        return { ...base, have: 0, window: null, dates_missing: missingDates(from, rule.days, campaignEnd, counted), text: `0 of ${rule.days} consecutive days: no counted ${what}${after ? ` since ${after}` : ' yet'}` };
      }
      const going = last.to === windowEnd && !countingEnded;
      const pick = going ? last : runs.reduce((best, r) => (r.length % rule.days >= best.length % rule.days ? r : best));
      const len = pick.length % rule.days;
      const next = addDays(pick.to, 1);
      const missing = missingDates(next, rule.days - len, campaignEnd, counted);
      if (len === 0) {
        const text = `0 of ${rule.days} consecutive days since ${pick.to}; ${next <= windowEnd ? `${next} has no ${what}` : countingEnded ? `counting ended on ${windowEnd}` : 'continue tomorrow'}`;
        return { ...base, have: 0, window: null, dates_missing: missing, text };
      }
      const from = addDays(pick.to, -(len - 1));
      const tail = next <= windowEnd ? `${next} has no ${what}` : countingEnded ? `counting ended on ${windowEnd}, ${rule.days - len} day(s) short` : `${rule.days - len} more day(s) needed from ${next}`;
      return { ...base, have: len, window: { from, to: pick.to }, dates_missing: missing, text: `${len} of ${rule.days} consecutive days: ${from}..${pick.to}; ${tail}` };
    }
    case 'active_days': {
      const since = after ? days.filter((d) => d.date > after) : days;
      const base = { measure: 'active_days' as const, needed: rule.min_days };
      if (rule.window_days === undefined) {
        return { ...base, have: since.length, window: { from: after ? addDays(after, 1) : window.from, to: windowEnd }, dates_missing: null, text: `${since.length} of ${rule.min_days} active days${after ? ` since ${after}` : ''}` };
      }
      let best = 0;
      let bestFrom = '';
      let first = 0;
      for (let i = 0; i < since.length; i++) {
        const ws = addDays(since[i]!.date, -(rule.window_days - 1));
        while (since[first]!.date < ws) first++;
        if (i - first + 1 > best) {
          best = i - first + 1;
          bestFrom = since[first]!.date;
        }
      }
      if (best === 0) return { ...base, have: 0, window: null, dates_missing: null, text: `0 of ${rule.min_days} active days in any ${rule.window_days}-day window` };
      const bestTo = addDays(bestFrom, rule.window_days - 1);
      return {
        ...base,
        have: best,
        window: { from: bestFrom, to: bestTo },
        dates_missing: missingDates(bestFrom, rule.window_days, campaignEnd, counted),
        text: `${best} of ${rule.min_days} active days in the best ${rule.window_days}-day window (from ${bestFrom} to ${bestTo})`,
      };
    }
    case 'event_count': {
      const total = days.reduce((n, d) => n + d.events, 0);
      const have = total - earnings.length * rule.min_events;
      return { measure: 'events', needed: rule.min_events, have, window, dates_missing: null, text: `${have} of ${rule.min_events} ${what} events${earnings.length ? ' toward the next grant' : ''}` };
    }
  }
}
