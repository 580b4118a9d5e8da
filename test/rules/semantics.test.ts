// Each rule's semantics at its edges, through the CLI: one data set where every member exercises one
// edge, ingested once, then runs at several as-of dates (before start, mid-campaign, in grace, closed).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dates, ev, type Ev, reward, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const ws = new Workspace();

const config = {
  timezone: 'America/New_York',
  paths: { grants: 'out/grants' },
  campaigns: [
    {
      id: 'march',
      start: '2026-03-01',
      end: '2026-03-31',
      grace_days: 7,
      rules: [
        { id: 'first', type: 'first_event', event_type: 'birth_reported', reward: reward('GIFT-25', 2500) },
        { id: 'five', type: 'streak', event_type: 'data_logged', days: 5, repeat: true, max_per_user: 3, reward: reward('GIFT-5', 500) },
        { id: 'five-once', type: 'streak', event_type: 'data_logged', days: 5, reward: reward('GIFT-5X', 500) },
        {
          id: 'active-3-of-5',
          type: 'active_days',
          event_type: 'workout',
          min_days: 3,
          window_days: 5,
          where: { source: ['app', 'watch'] },
          reward: reward('GIFT-10', 1000),
        },
        { id: 'active-4', type: 'active_days', event_type: 'workout', min_days: 4, repeat: true, max_per_user: 2, reward: reward('GIFT-4', 400) },
        {
          id: 'three-daily',
          type: 'event_count',
          event_type: 'symptom_logged',
          min_events: 3,
          repeat: true,
          max_per_user: 2,
          where: { kind: 'daily' },
          reward: reward('GIFT-3', 300),
        },
      ],
    },
    {
      id: 'acme-only',
      start: '2026-03-01',
      end: '2026-03-31',
      eligible_partners: ['acme'],
      rules: [{ id: 'first-log', type: 'first_event', event_type: 'data_logged', reward: reward('ACME-1', 100) }],
    },
  ],
};

const at = (user_id: string, event_type: string, occurred_at: string, timezone?: string): Ev => ({
  user_id,
  event_type,
  occurred_at,
  ...(timezone ? { timezone } : {}),
});

const events: Ev[] = [
  // Campaign boundaries in local dates (config zone America/New_York, EST = UTC-5 until 2026-03-08, then EDT = UTC-4).
  at('b-before', 'birth_reported', '2026-03-01T04:30:00Z'), // 2026-02-28 23:30 local: before start
  at('b-start', 'birth_reported', '2026-03-01T05:30:00Z'), // 2026-03-01 00:30 local: on the start date
  at('b-end', 'birth_reported', '2026-04-01T03:30:00Z'), // 2026-03-31 23:30 local: on the end date
  at('b-after', 'birth_reported', '2026-04-01T04:30:00Z'), // 2026-04-01 00:30 local: after the end
  // Local dates near midnight in other zones (a timezone column wins over the config's zone).
  at('b-tokyo', 'birth_reported', '2026-02-28T15:30:00Z', 'Asia/Tokyo'), // 2026-03-01 00:30 in Tokyo
  at('b-tokyo-before', 'birth_reported', '2026-02-28T14:30:00Z', 'Asia/Tokyo'), // 2026-02-28 23:30 in Tokyo
  at('b-la', 'birth_reported', '2026-04-01T06:30:00Z', 'America/Los_Angeles'), // 2026-03-31 23:30 in Los Angeles
  at('b-offset', 'birth_reported', '2026-03-31T23:59:00-10:00'), // numeric offset: the date as written
  at('b-offset-after', 'birth_reported', '2026-04-01T00:01:00+14:00'), // 2026-03-31 10:01 UTC, but 04-01 for the member
  // A streak across the DST change (2026-03-08), in local days: 03-05..03-09. In UTC days the same
  // events fall on 03-06, 03-07, 03-08, 03-08, 03-09 (4 days); with a fixed -05:00 on 03-05..03-08 (4 days).
  at('dst', 'data_logged', '2026-03-06T04:30:00Z'), // 03-05 23:30 EST
  at('dst', 'data_logged', '2026-03-07T04:30:00Z'), // 03-06 23:30 EST
  at('dst', 'data_logged', '2026-03-08T04:30:00Z'), // 03-07 23:30 EST
  at('dst', 'data_logged', '2026-03-08T06:59:00Z'), // 03-08 01:59 EST, just before the change
  at('dst', 'data_logged', '2026-03-09T04:30:00Z'), // 03-09 00:30 EDT
  // Streak repeat: a run of 12 with days 5 earns on its 5th and 10th day.
  ...dates('2026-03-10', 12).map((d) => ev('s12', 'data_logged', d)),
  // A broken run starts counting anew: 7 days, a gap on 03-08, 5 days.
  ...[...dates('2026-03-01', 7), ...dates('2026-03-09', 5)].map((d) => ev('s-broken', 'data_logged', d)),
  // max_per_user 3: a run of 20 would earn 4.
  ...dates('2026-03-01', 20).map((d) => ev('s-cap', 'data_logged', d)),
  // Several events a day count as one day.
  ...dates('2026-03-01', 5).flatMap((d) => [ev('s-multi', 'data_logged', d), at('s-multi', 'data_logged', `${d}T18:00:00Z`)]),
  // A run crossing the campaign's end: only 03-27..03-31 count.
  ...dates('2026-03-27', 8).map((d) => ev('s-end', 'data_logged', d)),
  // A run that is complete only from as-of 03-24.
  ...dates('2026-03-20', 7).map((d) => ev('s-asof', 'data_logged', d)),
  // A run that starts before the campaign: only its days from 03-01 count (03-01..03-04 is 4).
  ...dates('2026-02-25', 8).map((d) => ev('s-before', 'data_logged', d)),
  // active_days 3 of 5 with where source in [app, watch]: web does not count.
  ev('a-win', 'workout', '2026-03-01', { source: 'app' }),
  ev('a-win', 'workout', '2026-03-03', { source: 'watch' }),
  ev('a-win', 'workout', '2026-03-04', { source: 'web' }),
  ev('a-win', 'workout', '2026-03-06', { source: 'app' }),
  ev('a-win', 'workout', '2026-03-07', { source: 'app' }),
  // active_days 4 without window, with repeat: counting restarts the day after earning.
  ...['2026-03-01', '2026-03-05', '2026-03-10', '2026-03-15', '2026-03-16', '2026-03-20', '2026-03-25', '2026-03-29'].map((d) => ev('a-rep', 'workout', d)),
  // event_count 3 of kind daily, repeat, cap 2.
  ev('e1', 'symptom_logged', '2026-03-02', { kind: 'daily' }),
  at('e1', 'symptom_logged', '2026-03-02T13:00:00Z'), // no properties: does not match where
  { ...ev('e1', 'symptom_logged', '2026-03-02', { kind: 'daily' }), occurred_at: '2026-03-02T14:00:00Z' },
  ...[15, 16, 17].map((h) => ({ ...ev('e1', 'symptom_logged', '2026-03-03', { kind: 'weekly' }), occurred_at: `2026-03-03T${h}:00:00Z` })),
  ev('e1', 'symptom_logged', '2026-03-04', { kind: 'daily' }),
  ...[15, 16, 17].map((h) => ({ ...ev('e1', 'symptom_logged', '2026-03-06', { kind: 'daily' }), occurred_at: `2026-03-06T${h}:00:00Z` })),
  ...[15, 16, 17].map((h) => ({ ...ev('e1', 'symptom_logged', '2026-03-07', { kind: 'daily' }), occurred_at: `2026-03-07T${h}:00:00Z` })),
  // Eligibility by partner (acme-only campaign).
  ev('p-acme', 'data_logged', '2026-03-02'),
  ev('p-globex', 'data_logged', '2026-03-02'),
  ev('p-none', 'data_logged', '2026-03-02'),
  ev('p-nomember', 'data_logged', '2026-03-02'),
];

// What has been earned by as-of 2026-03-23 (window 03-01..03-23), as `user:rule` -> earned dates.
const by0323: Record<string, string[]> = {
  'b-start:first': ['2026-03-01'],
  'b-tokyo:first': ['2026-03-01'],
  'dst:five': ['2026-03-09'],
  'dst:five-once': ['2026-03-09'],
  's12:five': ['2026-03-14', '2026-03-19'],
  's12:five-once': ['2026-03-14'],
  's-broken:five': ['2026-03-05', '2026-03-13'],
  's-broken:five-once': ['2026-03-05'],
  's-cap:five': ['2026-03-05', '2026-03-10', '2026-03-15'],
  's-cap:five-once': ['2026-03-05'],
  's-multi:five': ['2026-03-05'],
  's-multi:five-once': ['2026-03-05'],
  'a-win:active-3-of-5': ['2026-03-07'],
  'a-win:active-4': ['2026-03-06'],
  'a-rep:active-4': ['2026-03-15'],
  'e1:three-daily': ['2026-03-04', '2026-03-06'],
};

// Added by the run as of 2026-04-05 (window 03-01..03-31, in grace).
const added0405: Record<string, string[]> = {
  'b-end:first': ['2026-03-31'],
  'b-la:first': ['2026-03-31'],
  'b-offset:first': ['2026-03-31'],
  's-end:five': ['2026-03-31'],
  's-end:five-once': ['2026-03-31'],
  's-asof:five': ['2026-03-24'],
  's-asof:five-once': ['2026-03-24'],
  'a-rep:active-4': ['2026-03-29'],
};

function merge(a: Record<string, string[]>, b: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = structuredClone(a);
  for (const [k, v] of Object.entries(b)) out[k] = [...(out[k] ?? []), ...v];
  return out;
}

beforeAll(() => {
  ws.writeConfig(config);
  ws.ingest(events);
  ws.ingestMembers([
    { user_id: 'p-acme', partner: 'acme' },
    { user_id: 'p-globex', partner: 'globex' },
    { user_id: 'p-none' },
  ]);
});
afterAll(() => ws.cleanup());

describe('rules through `rewards run` (one data set, runs in date order)', () => {
  it('as-of before the start: not started, nothing granted', () => {
    const r = ws.run('2026-02-28');
    expect(r.campaigns.map((c: any) => [c.id, c.closed, c.grants])).toEqual([
      ['march', false, 0],
      ['acme-only', false, 0],
    ]);
    expect(r.grants).toBe(0);
    expect(ws.grants()).toEqual([]);
  });

  it('as-of 2026-03-23: counts [start, as-of] in local dates; streak/active_days/event_count edges; eligibility', () => {
    const r = ws.run('2026-03-23');
    expect(ws.earned('march')).toEqual(by0323);
    // eligibility: only the acme member, not globex, no partner, or no member record
    expect(ws.earned('acme-only')).toEqual({ 'p-acme:first-log': ['2026-03-02'] });
    const n = Object.values(by0323).flat().length;
    expect(r.campaigns.find((c: any) => c.id === 'march')).toMatchObject({ grants: n, closed: false, over_budget: 0 });
    expect(r.grants).toBe(n + 1);
  });

  it('as-of 2026-03-24: the day the as-of reaches completes a streak', () => {
    const r = ws.run('2026-03-24');
    expect(r.grants).toBe(2);
    expect(ws.earned('march')).toEqual(merge(by0323, { 's-asof:five': ['2026-03-24'], 's-asof:five-once': ['2026-03-24'] }));
  });

  it('in grace (as-of 2026-04-05): counts up to the end date, not after', () => {
    ws.run('2026-04-05');
    expect(ws.earned('march')).toEqual(merge(by0323, added0405));
    // events after the end never count: b-after, b-offset-after, s-end's days in April
    const users = new Set(ws.grants().map((g) => g.user_id));
    for (const u of ['b-before', 'b-after', 'b-offset-after', 'b-tokyo-before']) expect(users.has(u)).toBe(false);
  });

  it('late events for campaign days still earn within grace, with their true date; events after the end do not', () => {
    ws.ingest([ev('late', 'birth_reported', '2026-03-30'), ev('late-after-end', 'birth_reported', '2026-04-02')]);
    const r = ws.run('2026-04-07'); // end + grace_days: the last day the campaign is evaluated
    expect(r.campaigns.find((c: any) => c.id === 'march')).toMatchObject({ closed: false, grants: 1 });
    expect(ws.earned('march')['late:first']).toEqual(['2026-03-30']);
    expect(ws.earned('march')['late-after-end:first']).toBeUndefined();
  });

  it('after end + grace_days the campaign is closed and never grants again', () => {
    ws.ingest([ev('too-late', 'birth_reported', '2026-03-15'), ...dates('2026-03-25', 5).map((d) => ev('too-late', 'data_logged', d))]);
    const before = ws.grants();
    for (const asOf of ['2026-04-08', '2026-06-30']) {
      const r = ws.run(asOf);
      expect(r.campaigns.map((c: any) => [c.id, c.closed, c.grants])).toEqual([
        ['march', true, 0],
        ['acme-only', true, 0],
      ]);
    }
    expect(ws.grants()).toEqual(before);
    // explain tells why: closed, not over budget (this campaign has no budget)
    const out = ws.ok(['explain', '--user', 'too-late', '--campaign', 'march', '--as-of', '2026-04-08']).stdout;
    expect(out).toContain('march (closed, counting 2026-03-01..2026-03-31)');
    expect(out).toMatch(/#1 earned 2026-03-15 {2}grant [0-9a-f]{32} {2}earned, not granted: the campaign closed before a run granted it/);
    expect(out).toContain('next: the campaign is closed; reached the limit of 1 grant(s) per member');
  });
});
