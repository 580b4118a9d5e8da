/**
 * Issue 15, the parts done so far: one voice for every error (the option parser's too), missing
 * folders and unknown batches or members as 66, conflicting flags as 64, a capped catch-up with one
 * warning per partner, exports that stop once a partner's campaigns are closed, and rejects that
 * name a file where the nightly archived it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Workspace } from '../workspace.js';

const workspaces: Workspace[] = [];
afterAll(() => workspaces.forEach((w) => w.cleanup()));
function demo(inbox: boolean | ((name: string) => boolean) = true): Workspace {
  const w = new Workspace({ demo: inbox, prefix: 'rewards-voice-' });
  workspaces.push(w);
  return w;
}

describe('one voice', () => {
  const w = demo();
  w.ok(['--quiet', 'nightly', '--as-of', '2026-03-31']);

  it('the option parser speaks as the tool: rewards: what, then where to look (64)', () => {
    const r = w.cli(['explain', '--as-of', '2026-03-31']);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe("rewards: required option '--user <id>' not specified; see `rewards explain --help`\n");
    const u = w.cli(['reprot']);
    expect(u.code).toBe(64);
    expect(u.stderr).toBe("rewards: unknown command 'reprot' (Did you mean report?); see `rewards --help`\n");
  });

  it('says what is wrong with a date, a config folder, and two outputs asked at once', () => {
    const d = w.cli(['report', '--as-of', '2026-02-30']);
    expect([d.code, d.stderr]).toEqual([64, 'rewards: --as-of 2026-02-30: there is no such day in the calendar; give a real date\n']);
    const c = w.cli(['--config', w.dir, 'status']);
    expect(c.code).toBe(78);
    expect(c.stderr).toBe(`rewards: ${w.dir}: is a folder, not a config file; pass the file itself, as in --config ${join(w.dir, 'rewards.config.json')}\n`);
    const f = w.cli(['--json', 'report', '--format', 'csv', '--as-of', '2026-03-31']);
    expect([f.code, f.stderr, f.stdout]).toEqual([64, 'rewards: --json and --format csv ask for two outputs; give one of them\n', '']);
  });

  it('an unknown batch, member or database folder is 66, with a way forward', () => {
    const b = w.cli(['rejects', '--batch', '999']);
    expect([b.code, b.stdout]).toEqual([66, '']);
    expect(b.stderr).toBe(`rewards: --batch 999: no such batch in ${w.db}; \`rewards status --json\` and the ingest reports give batch numbers\n`);
    const m = w.cli(['explain', '--user', 'M0007', '--as-of', '2026-03-31']);
    expect([m.code, m.stderr]).toEqual([66, `rewards: --user M0007: no such member in ${w.db} (no member record, event or grant); did you mean m0007?\n`]);
    const n = w.cli(['explain', '--user', 'nobody', '--as-of', '2026-03-31']);
    expect(n.code).toBe(66);
    expect(n.stderr).toContain('ids are case-sensitive');
    const missing = join(w.dir, 'no', 'such', 'x.db');
    const i = w.cli(['--db', missing, 'ingest', join(w.dir, 'archive/2026-03-31/events-2026-03-01.csv')]);
    expect([i.code, i.stderr]).toEqual([66, `rewards: ${missing}: the folder ${join(w.dir, 'no', 'such')} does not exist; create it (mkdir -p) or fix --db\n`]);
    mkdirSync(join(w.dir, 'no'));
    const created = w.cli(['--db', join(w.dir, 'no', 'new.db'), 'ingest', '-q', join(w.dir, 'archive/2026-03-31/events-2026-03-01.csv')]);
    expect([created.code, created.stderr]).toEqual([0, '']);
  });

  it('explain: counting ends at the campaign end, the closest miss, where filters stated, each type its own measures', () => {
    const m3 = w.ok(['explain', '--user', 'm0003', '--as-of', '2026-03-31']).stdout as string;
    expect(m3).toContain('next: 2 of 5 consecutive days: 2026-03-30..2026-03-31; counting ended on 2026-03-31, 3 day(s) short');
    expect(m3).toContain('active-10-of-14 [active_days data_logged where source in "app", "watch"]: 15 counted day(s), 17 event(s) from 2026-03-03 to 2026-03-31\n');
    const m2 = w.ok(['explain', '--user', 'm0002', '--as-of', '2026-03-31']).stdout as string;
    // Its last run is 2 days; the closest miss is the 4 days at the start of March.
    expect(m2).toContain('next: 4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged');
    // --json: the same as figures beside the words.
    const five = w.ok(['--json', 'explain', '--user', 'm0002', '--as-of', '2026-03-31']).campaigns[0].rules.find((r: { rule_id: string }) => r.rule_id === 'five-days');
    expect([five.not_earned, five.progress]).toEqual([
      '4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged',
      { measure: 'consecutive_days', needed: 5, have: 4, window: { from: '2026-03-01', to: '2026-03-04' }, dates_missing: ['2026-03-05'] },
    ]);
    const j = w.ok(['--json', 'explain', '--user', 'm0003', '--as-of', '2026-03-31']);
    const rules = j.campaigns[0].rules as { rule_id: string; where: unknown; current_streak: number | null; longest_streak: unknown }[];
    expect(rules.map((r) => [r.rule_id, r.where, r.current_streak])).toEqual([
      ['birth', null, null],
      ['five-days', null, 7],
      ['active-10-of-14', { source: ['app', 'watch'] }, null],
      ['ten-symptoms', null, null],
    ]);
  });

  it('status and report name the same phase: both as of yesterday, by default', () => {
    const st = w.ok(['--json', 'status']);
    const rep = w.ok(['--json', 'report']);
    expect(st.campaigns[0].as_of).toBe(rep.as_of);
    expect(st.campaigns[0].phase).toBe(rep.rows[0].phase);
  });

  it('rejects name the file where the nightly archived it', () => {
    const r = w.ok(['--json', 'rejects']).rejects as { file: string; line: number }[];
    expect(r.map((x) => [x.file, x.line])).toEqual([[join(w.dir, 'archive/2026-03-31/events-2026-03-12.ndjson.gz'), 66]]);
  });
});

describe('safe catch-up', () => {
  it('refuses more than --max-catch-up nights before doing anything, and warns once per partner', () => {
    const w = demo((n) => n <= 'events-2026-03-05.csv');
    w.ok(['--quiet', 'nightly', '--as-of', '2026-03-05']);
    const far = w.cli(['nightly', '--as-of', '2026-04-20']);
    expect(far.code).toBe(64);
    expect(far.stderr).toBe(
      'rewards: nightly 2026-04-20: 46 nights to catch up since the last completed one (2026-03-05), more than --max-catch-up 31; ' +
        'run them with --max-catch-up 46, or in steps (--as-of an earlier date first), or only this night with --no-catch-up\n',
    );
    expect(w.query('SELECT count(*) AS n FROM nightly_runs')).toEqual([{ n: 1 }]);
    const r = w.cli(['nightly', '--as-of', '2026-04-20', '--max-catch-up', '46']);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('not HIPAA Safe Harbor'));
    // globex is daily: its exports stop after the first one once its campaign is closed (2026-04-08).
    expect(warnings).toEqual([
      'rewards: export globex 2026-03-06..2026-04-08 (34 exports): not HIPAA Safe Harbor (date precision finer than a year); it needs an expert determination before it is shared',
    ]);
    expect(w.files('out/outbox/globex').filter((f) => /^\d{4}-\d\d-\d\d$/.test(f)).pop()).toBe('2026-04-08');
  });
});
