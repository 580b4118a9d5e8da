// Through the CLI: a database run day by day (incrementally, with late events and a rerun of an
// earlier date) ends with the same grants as a fresh database given everything and run once.
// The randomized, many-day version runs in process: test/rules/incremental.test.ts.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { dates, ev, reward, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000 });

const config = {
  timezone: 'UTC',
  paths: { grants: 'out/grants' },
  campaigns: [
    {
      id: 'c',
      start: '2026-03-01',
      end: '2026-03-31',
      rules: [
        { id: 'five', type: 'streak', event_type: 'log', days: 5, repeat: true, max_per_user: 3, reward: reward('G5', 500) },
        { id: 'three', type: 'event_count', event_type: 'log', min_events: 3, reward: reward('G3', 300) },
      ],
    },
  ],
};

const batches = [
  dates('2026-03-01', 3).map((d) => ev('u1', 'log', d)),
  [ev('u1', 'log', '2026-03-04'), ev('u3', 'log', '2026-03-04')],
  // late: u2's events of 03-01..03-04 arrive at once, after the 03-04 run
  dates('2026-03-01', 4).map((d) => ev('u2', 'log', d)),
  [ev('u1', 'log', '2026-03-05'), ev('u3', 'log', '2026-03-06')],
];

describe('incremental runs through the CLI', () => {
  const daily = new Workspace();
  const fresh = new Workspace();
  afterAll(() => {
    daily.cleanup();
    fresh.cleanup();
  });

  it('give the same grants as one full run over all the data', () => {
    daily.writeConfig(config);
    daily.ingest(batches[0]!);
    daily.run('2026-03-03');
    daily.ingest(batches[1]!);
    daily.run('2026-03-04');
    daily.ingest(batches[2]!);
    // an operator reruns an earlier date: it must not make the next run skip u2's late events
    expect(daily.run('2026-03-02').grants).toBe(0);
    daily.ingest(batches[3]!);
    const last = daily.run('2026-03-06');
    expect(last.campaigns[0].mode).toBe('incremental');

    fresh.writeConfig(config);
    fresh.ingest(batches.flat());
    fresh.run('2026-03-06');

    const key = (g: any) => `${g.grant_id} ${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`;
    expect(daily.grants().map(key).sort()).toEqual(fresh.grants().map(key).sort());
    expect(daily.earned()).toEqual({
      'u1:three': ['2026-03-03'],
      'u1:five': ['2026-03-05'],
      'u2:three': ['2026-03-03'],
    });
  });
});
