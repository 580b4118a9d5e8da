// The data set test/cli/explain.test.ts and test/cli/report.test.ts share: a budgeted campaign for
// one partner and an open one, run once as of 2026-03-20.
import { dates, ev, reward, Workspace } from '../workspace.js';

export const config = {
  timezone: 'UTC',
  paths: { grants: 'out/grants' },
  campaigns: [
    {
      id: 'c1',
      start: '2026-03-01',
      end: '2026-03-31',
      grace_days: 7,
      eligible_partners: ['acme'],
      budget_cents: 1000,
      rules: [
        { id: 'five', type: 'streak', event_type: 'data_logged', days: 5, repeat: true, max_per_user: 3, reward: reward('G5', 500) },
        { id: 'three', type: 'event_count', event_type: 'symptom_logged', min_events: 3, reward: reward('G3', 300) },
      ],
    },
    {
      id: 'c2',
      start: '2026-03-01',
      end: '2026-03-31',
      rules: [{ id: 'first', type: 'first_event', event_type: 'data_logged', reward: reward('F', 100) }],
    },
  ],
};

/**
 * u1 (acme): 03-01..03-09 and 03-11..03-14: earns `five` on 03-05, then 4 of 5.
 * u2 (globex): 03-01..03-04: not eligible for c1.
 * u3 (acme): 3 symptoms: earns `three` on 03-03.
 * u4 (acme): 03-06..03-10: earns `five` on 03-10, over budget (300 + 500 spent of 1000 before it).
 * u5 (acme): 03-01..03-04: 4 of 5.
 */
export function explainWorkspace(): { ws: Workspace; run: any } {
  const ws = new Workspace('rewards-explain-');
  ws.writeConfig(config);
  ws.ingestMembers([
    { user_id: 'u1', partner: 'acme' },
    { user_id: 'u2', partner: 'globex' },
    { user_id: 'u3', partner: 'acme' },
    { user_id: 'u4', partner: 'acme' },
    { user_id: 'u5', partner: 'acme' },
  ]);
  ws.ingest([
    ...[...dates('2026-03-01', 9), ...dates('2026-03-11', 4)].map((d) => ev('u1', 'data_logged', d)),
    ...dates('2026-03-01', 4).map((d) => ev('u2', 'data_logged', d)),
    ...dates('2026-03-01', 3).map((d) => ev('u3', 'symptom_logged', d)),
    ...dates('2026-03-06', 5).map((d) => ev('u4', 'data_logged', d)),
    ...dates('2026-03-01', 4).map((d) => ev('u5', 'data_logged', d)),
  ]);
  const run = ws.run('2026-03-20');
  return { ws, run };
}
