// Pure rule evaluation, campaign phases and windows, grant ids and budget order: no database, no CLI.
import { describe, expect, it } from 'vitest';
import { RuleSchema, CampaignSchema } from '../../src/config/schema.js';
import { evaluateRule, progress, streaks, type DayCount } from '../../src/rules/evaluate.js';
import { campaignPhase, countingWindow, grantId } from '../../src/rules/campaign.js';
import { applyBudget } from '../../src/grants/plan.js';
import type { Candidate } from '../../src/rules/candidates.js';
import { dates } from '../workspace.js';

const R = { code: 'G', amount_cents: 100, currency: 'USD' };
const rule = (r: Record<string, unknown>) => RuleSchema.parse({ id: 'r', event_type: 'data_logged', reward: R, ...r });
const days = (ds: string[], events = 1): DayCount[] => ds.map((date) => ({ date, events }));
const earnedOn = (r: ReturnType<typeof rule>, d: DayCount[]) => evaluateRule(r, d).map((e) => `${e.seq}@${e.earned_on}`);

describe('first_event', () => {
  it('earns once, on the first counted date', () => {
    expect(earnedOn(rule({ type: 'first_event' }), days(['2026-03-04', '2026-03-09']))).toEqual(['1@2026-03-04']);
    expect(earnedOn(rule({ type: 'first_event', repeat: true, max_per_user: 3 }), days(['2026-03-04', '2026-03-09']))).toEqual(['1@2026-03-04']);
    expect(evaluateRule(rule({ type: 'first_event' }), [])).toEqual([]);
  });
});

describe('streak', () => {
  const five = rule({ type: 'streak', days: 5 });
  const fiveRepeat = rule({ type: 'streak', days: 5, repeat: true, max_per_user: 10 });

  it('earns on the date that completes days consecutive dates', () => {
    expect(earnedOn(five, days(dates('2026-03-01', 5)))).toEqual(['1@2026-03-05']);
    expect(earnedOn(five, days(dates('2026-03-01', 4)))).toEqual([]);
    // one gap: 4 + 4 never make 5
    expect(earnedOn(five, days([...dates('2026-03-01', 4), ...dates('2026-03-06', 4)]))).toEqual([]);
  });

  it('without repeat earns once however long the run', () => {
    expect(earnedOn(five, days(dates('2026-03-01', 12)))).toEqual(['1@2026-03-05']);
    expect(earnedOn(rule({ type: 'streak', days: 5, max_per_user: 3 }), days(dates('2026-03-01', 12)))).toEqual(['1@2026-03-05']);
  });

  it('with repeat: a run of 12 with days 5 earns 2, on its 5th and 10th day', () => {
    expect(earnedOn(fiveRepeat, days(dates('2026-03-01', 12)))).toEqual(['1@2026-03-05', '2@2026-03-10']);
  });

  it('with repeat a broken run starts counting anew', () => {
    // 7 days (earn on the 5th), gap on 03-08, then 5 more (earn on their 5th, 03-13)
    expect(earnedOn(fiveRepeat, days([...dates('2026-03-01', 7), ...dates('2026-03-09', 5)]))).toEqual(['1@2026-03-05', '2@2026-03-13']);
    // the 2 leftover days of the first run do not carry over: 3 after the gap are not enough
    expect(earnedOn(fiveRepeat, days([...dates('2026-03-01', 7), ...dates('2026-03-09', 3)]))).toEqual(['1@2026-03-05']);
  });

  it('max_per_user caps repeat', () => {
    const capped = rule({ type: 'streak', days: 2, repeat: true, max_per_user: 3 });
    expect(earnedOn(capped, days(dates('2026-03-01', 20)))).toEqual(['1@2026-03-02', '2@2026-03-04', '3@2026-03-06']);
  });

  it('counts consecutive calendar dates across month ends and the DST change', () => {
    expect(earnedOn(five, days(dates('2026-02-26', 5)))).toEqual(['1@2026-03-02']);
    expect(earnedOn(five, days(dates('2026-03-06', 5)))).toEqual(['1@2026-03-10']);
    expect(earnedOn(five, days(dates('2026-10-30', 5)))).toEqual(['1@2026-11-03']);
  });
});

describe('active_days', () => {
  it('without window_days: min_days distinct dates over the whole campaign, earned on the first date that holds', () => {
    const r = rule({ type: 'active_days', min_days: 3 });
    expect(earnedOn(r, days(['2026-03-01', '2026-03-15', '2026-03-30', '2026-03-31']))).toEqual(['1@2026-03-30']);
    expect(earnedOn(r, days(['2026-03-01', '2026-03-15']))).toEqual([]);
  });

  it('with window_days: min_days within any window_days consecutive dates', () => {
    const r = rule({ type: 'active_days', min_days: 3, window_days: 5 });
    // 03-01, 03-04 are within 5 days but 03-07 is not within 5 of 03-01: the window 03-03..03-07 has 03-04, 03-07
    expect(earnedOn(r, days(['2026-03-01', '2026-03-04', '2026-03-07']))).toEqual([]);
    expect(earnedOn(r, days(['2026-03-01', '2026-03-04', '2026-03-07', '2026-03-08']))).toEqual(['1@2026-03-08']);
    // exactly window_days apart, inclusive: 03-01..03-05 is a 5-day window
    expect(earnedOn(r, days(['2026-03-01', '2026-03-03', '2026-03-05']))).toEqual(['1@2026-03-05']);
    expect(earnedOn(r, days(['2026-03-01', '2026-03-03', '2026-03-06']))).toEqual([]);
  });

  it('with repeat, counting starts again the day after each earning', () => {
    const r = rule({ type: 'active_days', min_days: 3, repeat: true, max_per_user: 5 });
    expect(earnedOn(r, days(dates('2026-03-01', 10)))).toEqual(['1@2026-03-03', '2@2026-03-06', '3@2026-03-09']);
    const w = rule({ type: 'active_days', min_days: 2, window_days: 3, repeat: true, max_per_user: 5 });
    // earns 03-02 (03-01, 03-02); restart on 03-03: 03-03 alone, then 03-06 is more than 3 days after 03-03
    // so the window 03-04..03-06 holds only 03-06; 03-07 completes 2 of 3 -> earns 03-07
    expect(earnedOn(w, days(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-06', '2026-03-07']))).toEqual(['1@2026-03-02', '2@2026-03-07']);
    // the earning day does not count again: 03-02 earned, 03-03 alone is 1 of 2
    expect(earnedOn(w, days(['2026-03-01', '2026-03-02', '2026-03-03']))).toEqual(['1@2026-03-02']);
  });
});

describe('event_count', () => {
  it('earns on the date of the min_events-th event; repeat earns every further min_events', () => {
    const r = rule({ type: 'event_count', min_events: 10 });
    const d = [
      { date: '2026-03-01', events: 4 },
      { date: '2026-03-02', events: 5 },
      { date: '2026-03-05', events: 1 },
      { date: '2026-03-06', events: 25 },
    ];
    expect(earnedOn(r, d)).toEqual(['1@2026-03-05']);
    const rr = rule({ type: 'event_count', min_events: 10, repeat: true, max_per_user: 10 });
    // 10 on 03-05, 20 and 30 both reached on 03-06 (35 in total)
    expect(earnedOn(rr, d)).toEqual(['1@2026-03-05', '2@2026-03-06', '3@2026-03-06']);
    const capped = rule({ type: 'event_count', min_events: 10, repeat: true, max_per_user: 2 });
    expect(earnedOn(capped, d)).toEqual(['1@2026-03-05', '2@2026-03-06']);
    expect(earnedOn(r, [{ date: '2026-03-01', events: 9 }])).toEqual([]);
  });
});

describe('streaks and progress text', () => {
  const five = rule({ type: 'streak', days: 5 });
  it('longest and last streak', () => {
    const s = streaks(days([...dates('2026-03-01', 3), ...dates('2026-03-10', 2)]));
    expect(s.longest).toEqual({ length: 3, from: '2026-03-01', to: '2026-03-03' });
    expect(s.last).toEqual({ length: 2, from: '2026-03-10', to: '2026-03-11' });
  });
  const march = { from: '2026-03-01', to: '2026-03-10' };
  it('names the missing day, as figures and as words', () => {
    expect(progress(five, days(dates('2026-03-01', 4)), [], march, '2026-03-31')).toEqual({
      measure: 'consecutive_days',
      needed: 5,
      have: 4,
      window: { from: '2026-03-01', to: '2026-03-04' },
      dates_missing: ['2026-03-05'],
      text: '4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged',
    });
  });
  it('a run still going on needs the days after it; once counting ends, the closest miss is named', () => {
    const going = progress(five, days(dates('2026-03-08', 3)), [], march, '2026-03-31');
    expect([going.have, going.dates_missing, going.text]).toEqual([3, ['2026-03-11', '2026-03-12'], '3 of 5 consecutive days: 2026-03-08..2026-03-10; 2 more day(s) needed from 2026-03-11']);
    // 4 of 5 early in March, 2 at the end: counting ended on 03-31, so the closest miss is the 4.
    const ended = progress(five, days([...dates('2026-03-01', 4), ...dates('2026-03-30', 2)]), [], { from: '2026-03-01', to: '2026-03-31' }, '2026-03-31');
    expect([ended.have, ended.window, ended.dates_missing]).toEqual([4, { from: '2026-03-01', to: '2026-03-04' }, ['2026-03-05']]);
    // The last run ends on the campaign's last day: no date inside the campaign can complete it.
    const short = progress(five, days(dates('2026-03-29', 3)), [], { from: '2026-03-01', to: '2026-03-31' }, '2026-03-31');
    expect([short.have, short.dates_missing, short.text]).toEqual([3, [], '3 of 5 consecutive days: 2026-03-29..2026-03-31; counting ended on 2026-03-31, 2 day(s) short']);
  });
  it('event_count and active_days progress', () => {
    expect(progress(rule({ type: 'event_count', event_type: 'symptom_logged', min_events: 10 }), [{ date: '2026-03-01', events: 7 }], [], march, '2026-03-31')).toEqual({
      measure: 'events',
      needed: 10,
      have: 7,
      window: march,
      dates_missing: null,
      text: '7 of 10 symptom_logged events',
    });
    expect(progress(rule({ type: 'active_days', min_days: 20 }), days(dates('2026-03-01', 4)), [], march, '2026-03-31').text).toBe('4 of 20 active days');
    const windowed = progress(rule({ type: 'active_days', min_days: 3, window_days: 4 }), days(['2026-03-01', '2026-03-03', '2026-03-09']), [], march, '2026-03-31');
    expect([windowed.have, windowed.window, windowed.dates_missing]).toEqual([2, { from: '2026-03-01', to: '2026-03-04' }, ['2026-03-02', '2026-03-04']]);
  });
  it('the limit reached', () => {
    const once = rule({ type: 'first_event' });
    expect(progress(once, days(['2026-03-02']), [{ seq: 1, earned_on: '2026-03-02' }], march, '2026-03-31')).toMatchObject({ measure: 'limit', needed: 1, have: 1, dates_missing: null });
  });
});

describe('campaign phase and counting window', () => {
  const c = CampaignSchema.parse({
    id: 'c',
    start: '2026-03-01',
    end: '2026-03-31',
    grace_days: 7,
    rules: [{ id: 'r', type: 'first_event', event_type: 'x', reward: R }],
  });
  it('is evaluated while start <= as-of <= end + grace_days', () => {
    expect(campaignPhase(c, '2026-02-28')).toBe('not_started');
    expect(campaignPhase(c, '2026-03-01')).toBe('open');
    expect(campaignPhase(c, '2026-03-31')).toBe('open');
    expect(campaignPhase(c, '2026-04-07')).toBe('open');
    expect(campaignPhase(c, '2026-04-08')).toBe('closed');
  });
  it('counts [start, min(end, as-of)]', () => {
    expect(countingWindow(c, '2026-03-01')).toEqual({ from: '2026-03-01', to: '2026-03-01' });
    expect(countingWindow(c, '2026-03-15')).toEqual({ from: '2026-03-01', to: '2026-03-15' });
    expect(countingWindow(c, '2026-04-05')).toEqual({ from: '2026-03-01', to: '2026-03-31' });
  });
  it('grace_days defaults to 7', () => {
    const d = CampaignSchema.parse({ id: 'c', start: '2026-03-01', end: '2026-03-31', rules: [{ id: 'r', type: 'first_event', event_type: 'x', reward: R }] });
    expect(d.grace_days).toBe(7);
    expect(d.rules[0]!.repeat).toBe(false);
    expect(d.rules[0]!.max_per_user).toBe(1);
  });
});

describe('grant ids', () => {
  it('are deterministic from (campaign, rule, user, seq) and differ when any part differs', () => {
    const a = grantId('spring-2026', 'five-days', 'u1', 1);
    expect(a).toBe(grantId('spring-2026', 'five-days', 'u1', 1));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    const others = [grantId('spring-2027', 'five-days', 'u1', 1), grantId('spring-2026', 'birth', 'u1', 1), grantId('spring-2026', 'five-days', 'u2', 1), grantId('spring-2026', 'five-days', 'u1', 2)];
    expect(new Set([a, ...others]).size).toBe(5);
    // no ambiguity from concatenation
    expect(grantId('a', 'b-c', 'd', 1)).not.toBe(grantId('a-b', 'c', 'd', 1));
  });
});

describe('budget order', () => {
  const cand = (earned_on: string, rule_index: number, user_id: string, seq: number, amount: number): Candidate => ({
    campaign_id: 'c',
    rule_id: `r${rule_index}`,
    rule_index,
    user_id,
    seq,
    earned_on,
    reward: { code: 'G', amount_cents: amount, currency: 'USD' },
  });
  it('grants in (earned date, rule order, user_id, seq) until the next would not fit; the rest are over budget', () => {
    const cs = [
      cand('2026-03-02', 0, 'a', 1, 100),
      cand('2026-03-01', 1, 'b', 1, 100),
      cand('2026-03-01', 0, 'z', 1, 100),
      cand('2026-03-01', 1, 'a', 2, 100),
      cand('2026-03-01', 1, 'a', 1, 100),
      cand('2026-03-03', 0, 'a', 1, 10),
    ];
    const key = (c: Candidate) => `${c.earned_on}/${c.rule_index}/${c.user_id}/${c.seq}`;
    const all = applyBudget(cs, undefined, 0);
    expect(all.granted.map(key)).toEqual(['2026-03-01/0/z/1', '2026-03-01/1/a/1', '2026-03-01/1/a/2', '2026-03-01/1/b/1', '2026-03-02/0/a/1', '2026-03-03/0/a/1']);
    const some = applyBudget(cs, 1000, 650);
    expect(some.granted.map(key)).toEqual(['2026-03-01/0/z/1', '2026-03-01/1/a/1', '2026-03-01/1/a/2']);
    // the 10-cent one would fit, but budget order stops at the first that does not
    expect(some.overBudget.map(key)).toEqual(['2026-03-01/1/b/1', '2026-03-02/0/a/1', '2026-03-03/0/a/1']);
    // user ids in code-point order, not locale order
    expect(applyBudget([cand('2026-03-01', 0, 'b', 1, 1), cand('2026-03-01', 0, 'B', 1, 1), cand('2026-03-01', 0, 'a', 1, 1)], undefined, 0).granted.map((c) => c.user_id)).toEqual(['B', 'a', 'b']);
  });
});
