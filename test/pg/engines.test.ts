/**
 * The same results on both engines: one messy multi-night scenario (the demo's inbox of CSV, NDJSON
 * and gzip files with a bad row and members in several zones, plus generated files with missing ids,
 * duplicates, conflicting duplicates and bad rows, late events near local midnight, a member file
 * that changes partners and consent, a budget that runs out) run once on SQLite and once on a real
 * PostgreSQL server. Grant files and export data files must be byte-identical, and every --json
 * output equal apart from paths and times.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, PROJECT_ROOT } from '../helpers.js';
import { allFiles, Workspace } from '../workspace.js';
import { generateMessyEvents } from '../generate.js';
import { PG_BIN, PG_HOWTO, TestPostgres } from './cluster.js';

if (!PG_BIN) console.warn(`skipping the PostgreSQL engine tests: ${PG_HOWTO}`);

/** Times, durations and the workspace's own paths differ between any two runs; nothing else may. */
function normalise(value: unknown, ws: Workspace, db: string): unknown {
  const text = JSON.stringify(value)
    .split(JSON.stringify(db).slice(1, -1))
    .join('<db>')
    .split(ws.dir)
    .join('<ws>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/\d{8}T\d{6}\d*Z-[0-9a-f]+/g, '<staging>');
  return JSON.parse(text, (key, v) => (/(_ms|_seconds|seconds|elapsed|duration|bytes)$/.test(key) && typeof v === 'number' ? '<n>' : v));
}

const LATE = [
  // Los Angeles members logging at 21:30 local: 05:30Z the next day; late files for days already run.
  { event_id: 'late-1', user_id: 'm0001', event_type: 'data_logged', occurred_at: '2026-03-06T05:30:00Z', timezone: 'America/Los_Angeles', properties: { source: 'app' } },
  { event_id: 'late-2', user_id: 'm0001', event_type: 'data_logged', occurred_at: '2026-03-07T05:30:00Z', timezone: 'America/Los_Angeles', properties: { source: 'watch' } },
  { event_id: 'late-3', user_id: 'm0002', event_type: 'symptom_logged', occurred_at: '2026-03-08T23:59:59-08:00', properties: { severity: 2 } },
  { event_id: 'late-3', user_id: 'm0002', event_type: 'symptom_logged', occurred_at: '2026-03-08T23:59:59-08:00', properties: { severity: 2 } },
  { event_id: 'late-4', user_id: 'm0004', event_type: 'birth_reported', occurred_at: '2026-03-09T00:00:01+09:00', timezone: 'Asia/Tokyo' },
  { event_id: 'late-1', user_id: 'm0001', event_type: 'data_logged', occurred_at: '2026-03-06T05:31:00Z', timezone: 'America/Los_Angeles' },
];

/** The scenario, on one database; returns every --json output in order. */
async function scenario(ws: Workspace): Promise<{ name: string; out: unknown }[]> {
  const outputs: { name: string; out: unknown }[] = [];
  // Exit codes are compared too: the late file's bad rows make two nights partial (65).
  const json = (name: string, args: string[]) => {
    const r = ws.cli(['--json', ...args]);
    if (r.code !== 0 && r.code !== 65) throw new Error(`rewards ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    outputs.push({ name, out: { code: r.code, json: normalise(JSON.parse(r.stdout), ws, ws.db) } });
  };
  const arrive = (from: string, to: string) => {
    for (const n of readdirSync(join(DEMO, 'inbox/events'))) {
      const d = /(\d{4}-\d\d-\d\d)/.exec(n)![1]!;
      if (d >= from && d <= to) cpSync(join(DEMO, 'inbox/events', n), join(ws.dir, 'inbox/events', n));
    }
  };
  json('night 03-10', ['nightly', '--as-of', '2026-03-10']);
  arrive('2026-03-11', '2026-03-20');
  await generateMessyEvents(join(ws.dir, 'inbox/events', 'events-generated.csv'), 3000);
  writeFileSync(join(ws.dir, 'inbox/events', 'events-late.ndjson'), LATE.map((e) => JSON.stringify(e)).join('\n') + '\nnot json\n');
  json('night 03-20', ['nightly', '--as-of', '2026-03-20']);
  arrive('2026-03-21', '2026-03-31');
  const members = readFileSync(join(DEMO, 'inbox/members/members-2026-03-20.csv'), 'utf8').split('\n');
  // m0003 moves to acme; m0005 withdraws consent (rows re-sent unchanged are duplicates).
  const changed = members.map((l) => (l.startsWith('m0003,') ? l.replace(',globex,', ',acme,') : l.startsWith('m0005,') ? l.replace(/,true$/, ',false') : l));
  writeFileSync(join(ws.dir, 'inbox/members', 'members-2026-03-28.csv'), changed.join('\n'));
  json('night 03-31', ['nightly', '--as-of', '2026-03-31']);
  json('night 04-07', ['nightly', '--as-of', '2026-04-07']);
  json('dry run', ['run', '--as-of', '2026-04-07', '--dry-run']);
  json('export acme', ['export', '--partner', 'acme', '--as-of', '2027-01-10']);
  json('report', ['report', '--as-of', '2026-04-07']);
  for (const u of ['m0001', 'm0002', 'm0003', 'm0004', 'm0005']) json(`explain ${u}`, ['explain', '--user', u, '--as-of', '2026-04-07']);
  json('status', ['status']);
  // Events past the `where` source's watermark, then pruned with everything before them: the
  // delete trigger counts them into the source on their way out (migration 008; PostgreSQL's 001).
  const fresh = [1, 2, 3].map((i) => ({ event_id: `after-${i}`, user_id: 'm0003', event_type: 'data_logged', occurred_at: `2026-04-0${i}T15:00:00Z`, properties: { source: 'app' } }));
  writeFileSync(join(ws.dir, 'after.ndjson'), fresh.map((e) => JSON.stringify(e)).join('\n') + '\n');
  json('ingest after', ['ingest', join(ws.dir, 'after.ndjson')]);
  json('prune dry', ['prune', '--dry-run']);
  const cfg = JSON.parse(readFileSync(ws.configPath, 'utf8'));
  ws.writeConfig({ ...cfg, retention: { events_days: 200, rejects_days: 90 } });
  json('prune', ['prune']);
  json('explain after prune', ['explain', '--user', 'm0003', '--as-of', '2026-04-07']);
  json('status after prune', ['status']);
  outputs.push({ name: 'rejects', out: ws.ok(['rejects']).stdout.split(ws.dir).join('<ws>').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>') });
  return outputs;
}

/** Grant files and export files by path: byte-identical (manifests differ only in generated_at, hence their checksum line). */
function outputs(ws: Workspace): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, bytes] of allFiles(join(ws.dir, 'out'))) {
    // A published folder is a link to its staging folder, named with the time it was written.
    const rel = relative(ws.dir, path).replace(/\/\.(\d{4}-\d\d-\d\d)\.\d{8}T\d+Z-[0-9a-f]+\//, '/$1/');
    const text = bytes.toString('utf8');
    out.set(rel, rel.endsWith('manifest.json') || rel.endsWith('SHA256SUMS') ? text.replace(/"generated_at": "[^"]*"/, '').replace(/^[0-9a-f]{64} {2}manifest\.json$/m, '') : text);
  }
  return out;
}

describe.skipIf(!PG_BIN)('PostgreSQL: the same outputs as SQLite', () => {
  const pg = new TestPostgres();
  beforeAll(() => pg.start());
  afterAll(() => pg.stop());

  it('a messy multi-night scenario gives byte-identical grant and export files and equal --json outputs', async () => {
    const config = JSON.parse(readFileSync(join(DEMO, 'rewards.config.json'), 'utf8'));
    config.campaigns[0].budget_cents = 60_000; // runs out: grants wait over budget
    const early = (n: string) => /(\d{4}-\d\d-\d\d)/.exec(n)![1]! <= '2026-03-10';
    const lite = new Workspace({ prefix: 'rewards-engines-sqlite-', demo: early, config });
    const post = new Workspace({ prefix: 'rewards-engines-pg-', demo: early, config, db: pg.createDatabase('engines') });

    const a = await scenario(lite);
    const b = await scenario(post);
    expect(b.map((o) => o.name)).toEqual(a.map((o) => o.name));
    for (let i = 0; i < a.length; i++) expect(b[i]!.out, a[i]!.name).toEqual(a[i]!.out);

    const fa = outputs(lite);
    const fb = outputs(post);
    expect([...fb.keys()].sort()).toEqual([...fa.keys()].sort());
    for (const [rel, text] of fa) expect(fb.get(rel), rel).toBe(text);

    // The scenario exercised what it claims to: dedup, conflicts, bad rows, late events, a budget run out.
    const out = (name: string) => a.find((o) => o.name === name)!.out as { code: number; json: any };
    expect(out('night 03-20').code).toBe(65);
    const rows = out('status').json.database.rows;
    expect(rows).toEqual({
      events: 4820, daily_activity: 4636, members: 60, batches: 35, rejects: 32, runs: 29, grants: 63,
      exports: 30, releases: 30, deliveries: 0, nightly_runs: 4,
    });
    expect(pg.psql('engines', 'SELECT count(*) FROM campaign_over_budget')).toBe('65\n');
    // The analysts' views give the same rows on both engines.
    for (const [view, order] of [['campaign_progress', 'campaign_id, rule_id'], ['grants_by_partner', 'partner, campaign_id, rule_id'], ['member_days', 'user_id, local_date']]) {
      const sql = `SELECT * FROM ${view} ORDER BY ${order}`;
      const mine = lite.query(sql).map((r) => Object.values(r).map((v) => (v === null ? '' : String(v))).join('\t') + '\n').join('');
      expect(pg.psql('engines', sql), view).toBe(mine);
    }
    expect(fa.size).toBe(268);
    expect(fa.has('out/outbox/acme/2027-01-10/members.csv')).toBe(true);
    // The prune deleted every event but the last stored (kept: see store/retention.ts), and the
    // trigger counted the two others past the watermark into the source.
    expect(out('status after prune').json.database.rows.events).toBe(1);
    expect(pg.psql('engines', "SELECT local_date, events FROM source_activity WHERE user_id = 'm0003' AND local_date >= '2026-04-01' ORDER BY 1")).toBe(
      '2026-04-01\t1\n2026-04-02\t1\n',
    );
    lite.cleanup();
    post.cleanup();
  });

  it('every vendor source stores the same events on both engines (zip batch included)', () => {
    const config = { timezone: 'America/Los_Angeles', campaigns: [] };
    const lite = new Workspace({ prefix: 'rewards-sources-sqlite-', demo: false, config });
    const post = new Workspace({ prefix: 'rewards-sources-pg-', demo: false, config, db: pg.createDatabase('sources') });
    const files = { segment: 'segment-2026-03.ndjson', amplitude: 'amplitude-187520-2026-03.zip', mixpanel: 'mixpanel-2026-03.ndjson', ga4: 'ga4-2026-03.ndjson' };
    for (const [source, file] of Object.entries(files)) {
      const path = join(PROJECT_ROOT, 'fixtures/sources', file);
      const a = lite.ok(['--json', 'ingest', '--source', source, path]);
      const b = post.ok(['--json', 'ingest', '--source', source, path]);
      expect(b, source).toEqual(a);
    }
    const sql = "SELECT event_id, user_id, event_type, occurred_at, COALESCE(timezone, '') AS tz, local_date, COALESCE(properties, '') AS p FROM events ORDER BY event_id";
    const mine = lite.query(sql).map((r) => Object.values(r).join('\t') + '\n').join('');
    expect(mine.split('\n').length).toBe(45); // 4 sources x 11 events, and the last newline
    expect(pg.psql('sources', sql)).toBe(mine);
    expect(pg.psql('sources', "SELECT format FROM batches WHERE name LIKE '%.zip'")).toBe('zip\n');
  });
});
