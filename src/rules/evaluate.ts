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

/**
 * All earnings of one member under one rule, from the member's counted days (sorted by date, already
 * limited to the campaign's counting window), capped at max_per_user (1 without repeat).
 * Pure: the same days always give the same earnings, which is what makes grants reproducible.
 */
export function evaluateRule(rule: Rule, days: readonly DayCount[]): Earning[] {
  const cap = rule.repeat ? rule.max_per_user : 1;
  const dates: string[] = [];
  const push = (date: string) => {
    if (dates.length < cap) dates.push(date);
    return dates.length >= cap;
  };
  switch (rule.type) {
    case 'first_event':
      if (days.length > 0) push(days[0]!.date);
      break;
    case 'streak': {
      let run = 0;
      let prev: string | null = null;
      for (const d of days) {
        run = prev !== null && daysBetween(prev, d.date) === 1 ? run + 1 : 1;
        prev = d.date;
        if (run % rule.days === 0 && push(d.date)) break;
      }
      break;
    }
    case 'active_days': {
      // Counting restarts the day after each earning; within that, a sliding window of window_days.
      let since = 0; // index of the first day that may count
      for (let i = 0; i < days.length; i++) {
        const d = days[i]!;
        if (rule.window_days !== undefined) {
          const windowStart = addDays(d.date, -(rule.window_days - 1));
          while (days[since]!.date < windowStart) since++;
        }
        if (i - since + 1 >= rule.min_days) {
          if (push(d.date)) break;
          since = i + 1;
        }
      }
      break;
    }
    case 'event_count': {
      let total = 0;
      let earned = 0;
      outer: for (const d of days) {
        total += d.events;
        while (total >= (earned + 1) * rule.min_events) {
          earned++;
          if (push(d.date)) break outer;
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

export function streaks(days: readonly DayCount[]): Streaks {
  type Run = { length: number; from: string; to: string };
  let longest: Run | null = null;
  let cur: Run | null = null;
  for (const d of days) {
    if (cur && daysBetween(cur.to, d.date) === 1) cur = { from: cur.from, length: cur.length + 1, to: d.date };
    else cur = { length: 1, from: d.date, to: d.date };
    if (!longest || cur.length > longest.length) longest = cur;
  }
  return { longest, last: cur };
}

/**
 * Why a member has not (yet) earned the next grant of a rule, in words an analyst can check:
 * `4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged`.
 */
export function progressText(rule: Rule, days: readonly DayCount[], earnings: readonly Earning[], windowEnd: string): string {
  const cap = rule.repeat ? rule.max_per_user : 1;
  if (earnings.length >= cap) return `reached the limit of ${cap} grant(s) per member`;
  const after = earnings.length ? earnings[earnings.length - 1]!.earned_on : null;
  const what = rule.event_type;
  switch (rule.type) {
    case 'first_event':
      return `no counted ${what} event yet`;
    case 'streak': {
      const { last } = streaks(days);
      if (!last) return `0 of ${rule.days} consecutive days: no counted ${what} yet`;
      let len = last.length % rule.days;
      if (len === 0) return `0 of ${rule.days} consecutive days since ${last.to}; ${addDays(last.to, 1) <= windowEnd ? `${addDays(last.to, 1)} has no ${what}` : 'continue tomorrow'}`;
      const from = addDays(last.to, -(len - 1));
      const next = addDays(last.to, 1);
      const tail = next <= windowEnd ? `${next} has no ${what}` : `${rule.days - len} more day(s) needed from ${next}`;
      return `${len} of ${rule.days} consecutive days: ${from}..${last.to}; ${tail}`;
    }
    case 'active_days': {
      const counted = after ? days.filter((d) => d.date > after) : days;
      if (rule.window_days === undefined) {
        return `${counted.length} of ${rule.min_days} active days${after ? ` since ${after}` : ''}`;
      }
      let best = 0;
      let bestFrom = '';
      let since = 0;
      for (let i = 0; i < counted.length; i++) {
        const ws = addDays(counted[i]!.date, -(rule.window_days - 1));
        while (counted[since]!.date < ws) since++;
        if (i - since + 1 > best) {
          best = i - since + 1;
          bestFrom = counted[since]!.date;
        }
      }
      if (best === 0) return `0 of ${rule.min_days} active days in any ${rule.window_days}-day window`;
      return `${best} of ${rule.min_days} active days in the best ${rule.window_days}-day window (from ${bestFrom} to ${addDays(bestFrom, rule.window_days - 1)})`;
    }
    case 'event_count': {
      const total = days.reduce((n, d) => n + d.events, 0);
      const have = total - earnings.length * rule.min_events;
      return `${have} of ${rule.min_events} ${what} events${earnings.length ? ' toward the next grant' : ''}`;
    }
  }
}
