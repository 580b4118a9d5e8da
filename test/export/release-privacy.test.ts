/**
 * Issue 10: privacy across releases, attacked as a partner would: it keeps every release under
 * stable pseudonyms, diffs them, solves summary.csv's totals, and knows the birth year, ZIP and state
 * of its own staff. Each attack runs through the CLI; the summary audit is checked by an LP of this
 * test's own, built from summary.csv and the config's rewards alone.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import highsPackage, { type Highs } from 'highs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { parseJsonOutput, sqlite } from '../helpers.js';
import { type EventIn, hmac, loadEvents, loadMembers, insertGrants, KEYS, makeWs, type MemberIn, readCsv, type Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

const REWARDS: Record<string, number> = { birth: 2500, 'five-days': 500, active: 1000, 'ten-symptoms': 300 };
const CONFIG = {
  timezone: 'UTC',
  paths: { grants: 'out/grants', outbox: 'out/outbox' },
  campaigns: [
    {
      id: 'spring-2026',
      start: '2026-03-01',
      end: '2026-05-31',
      rules: [
        { id: 'birth', type: 'first_event', event_type: 'birth_reported', reward: { code: 'GIFT-25', amount_cents: 2500, currency: 'USD' } },
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, reward: { code: 'GIFT-5', amount_cents: 500, currency: 'USD' } },
        { id: 'active', type: 'active_days', event_type: 'data_logged', min_days: 3, reward: { code: 'GIFT-10', amount_cents: 1000, currency: 'USD' } },
        { id: 'ten-symptoms', type: 'event_count', event_type: 'symptom_logged', min_events: 10, reward: { code: 'GIFT-3', amount_cents: 300, currency: 'USD' } },
      ],
    },
  ],
  partners: [{ id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['spring-2026'], k_anonymity: 5 }],
};

const id = (i: number) => `zqx-${String(i).padStart(3, '0')}`;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const DATA_FILES = ['members.csv', 'grants.csv', 'activity.csv', 'summary.csv'];

/** 60 consenting acme members: varied years, ZIPs and states; #0 born 1936-05-01; #1 in NH's restricted area 036. */
function population(): MemberIn[] {
  const zips = ['02139', '02140', '60614', '10001', '94110'];
  const states = ['MA', 'MA', 'IL', 'NY', 'CA'];
  return Array.from({ length: 60 }, (_, i) => ({
    user_id: id(i),
    birth_date: i === 0 ? '1936-05-01' : `${1975 + (i % 20)}-0${1 + (i % 9)}-1${i % 10}`,
    zip: i === 1 ? '03601' : zips[i % 5],
    state: i === 1 ? 'NH' : states[i % 5],
    partner: 'acme',
    share_consent: true,
  }));
}

async function exportAs(ws: Workspace, asOf: string, env: Record<string, string> = {}) {
  const r = await ws.cli(['export', '--partner', 'acme', '--as-of', asOf, '--json', '--quiet'], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseJsonOutput<{ dir: string; data_through: string; release: string; reissue: boolean; k_anonymity: { k: number; generalised_rows: number } }>(r);
}

describe('releases follow the precision: diffs date nothing finer than a year', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = makeWs(CONFIG, 'rewards-release-');
    await loadMembers(ws, population());
    // 2025 activity (released in 2026) and March 2026 activity (not released before 2027).
    const events: EventIn[] = [];
    for (let i = 0; i < 30; i++) events.push({ user_id: id(i), event_type: 'data_logged', date: '2025-06-10' });
    for (let i = 0; i < 30; i++) events.push({ user_id: id(i), event_type: 'data_logged', date: '2026-03-01' });
    await loadEvents(ws, events);
  });

  it('exports as of consecutive days, a campaign first day and month ends carry identical data files, through the last year end', async () => {
    const a = await exportAs(ws, '2026-03-01');
    expect(a.data_through).toBe('2025-12-31');
    expect(a.release).toBe('2025');
    expect(a.reissue).toBe(false);
    // A birth reported on 2026-03-14 arrives between the two exports: the diff must not date it.
    await loadEvents(ws, [{ user_id: id(5), event_type: 'birth_reported', date: '2026-03-14' }], 'late.csv');
    insertGrants(ws, [{ campaign_id: 'spring-2026', rule_id: 'birth', user_id: id(5), reward_code: 'GIFT-25', amount_cents: 2500, earned_on: '2026-03-14' }]);
    const b = await exportAs(ws, '2026-03-14');
    const c = await exportAs(ws, '2026-03-15');
    const d = await exportAs(ws, '2026-04-30');
    for (const r of [b, c, d]) {
      expect(r.data_through).toBe('2025-12-31');
      expect(r.reissue).toBe(true);
    }
    for (const f of DATA_FILES) {
      const first = sha(join(a.dir, f));
      for (const r of [b, c, d]) expect(sha(join(r.dir, f)), `${f} as of ${r.dir}`).toBe(first);
    }
    // Nothing of 2026 is in any of them.
    for (const r of [a, b, c, d]) {
      for (const row of readCsv(join(r.dir, 'activity.csv')).slice(1)) expect(row[2]).not.toBe('2026');
      expect(readCsv(join(r.dir, 'grants.csv'))).toHaveLength(1);
    }
    const manifest = JSON.parse(readFileSync(join(c.dir, 'manifest.json'), 'utf8'));
    expect(manifest.data_through).toBe('2025-12-31');
    expect(manifest.release).toMatchObject({ period: '2025', reissue: true, first_as_of: '2026-03-01' });
  });

  it('the ledger records one release per period, and status shows what the partner holds', async () => {
    await exportAs(ws, '2026-12-31');
    const rows = sqlite<{ period: string; data_through: string; first_as_of: string }>(ws.db, 'SELECT period, data_through, first_as_of FROM releases ORDER BY release_id');
    expect(rows).toEqual([
      { period: '2025', data_through: '2025-12-31', first_as_of: '2026-03-01' },
      { period: '2026', data_through: '2026-12-31', first_as_of: '2026-12-31' },
    ]);
    expect(sqlite(ws.db, 'SELECT count(*) AS n FROM exports WHERE release_id = 1')).toEqual([{ n: 4 }]);
    const s = await ws.cli(['status']);
    expect(s.stdout).toContain('acme: release 2025, data through 2025-12-31, first exported as of 2026-03-01, 60 member(s)');
    expect(s.stdout).toContain('acme: release 2026, data through 2026-12-31, first exported as of 2026-12-31, 60 member(s)');
  });

  it('a re-export whose released files were tampered with, after the data changed, is refused (65) rather than releasing different data', async () => {
    const ws2 = makeWs(CONFIG, 'rewards-release-tamper-');
    await loadMembers(ws2, population());
    const a = await exportAs(ws2, '2026-02-01');
    // A member file changes a birth year; the first release's folder is edited on the shared disk.
    await loadMembers(ws2, population().map((m) => (m.user_id === id(7) ? { ...m, birth_date: '1999-01-01' } : m)), 'members2.csv');
    const fresh = await exportAs(ws2, '2026-02-02'); // released files intact: re-issued as they were
    expect(sha(join(fresh.dir, 'members.csv'))).toBe(sha(join(a.dir, 'members.csv')));
    const released = sqlite<{ dir: string }>(ws2.db, 'SELECT dir FROM releases')[0]!.dir;
    const { writeFileSync, chmodSync } = await import('node:fs');
    chmodSync(join(released, 'members.csv'), 0o640);
    writeFileSync(join(released, 'members.csv'), 'member,birth_year,zip3,state\n');
    const r = await ws2.cli(['export', '--partner', 'acme', '--as-of', '2026-02-03']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^rewards: partner acme: release 2025 .* cannot be re-issued unchanged\..*next period/m);
  });

  it('a Safe Harbor partner with a schedule finer than a year is refused by config validation (78)', async () => {
    const ws3 = makeWs({ ...CONFIG, partners: [{ ...CONFIG.partners[0], schedule: 'monthly' }] }, 'rewards-release-sched-');
    const r = await ws3.cli(['export', '--partner', 'acme', '--as-of', '2026-03-31']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('partners[0].schedule');
    expect(r.stderr).toContain('use "yearly"');
  });
});

describe('quasi-identifiers, top-coding and ZIP3 000', () => {
  let ws: Workspace;
  const releases: string[] = [];
  beforeAll(async () => {
    ws = makeWs(CONFIG, 'rewards-qi-');
    await loadMembers(ws, population());
    for (const asOf of ['2025-12-31', '2026-03-31', '2026-12-31']) releases.push((await exportAs(ws, asOf)).dir);
  });

  it('the member born 1936-05-01 never shows a year beside a top code under one pseudonym', () => {
    const p = hmac(KEYS.REWARDS_KEY_ACME, id(0));
    const shown = releases.map((d) => readCsv(join(d, 'members.csv')).find((r) => r[0] === p)![1]);
    expect(shown).toHaveLength(3);
    for (const v of shown) expect(v).not.toMatch(/^\d{4}$/);
    expect(shown.some((v) => v === '90+')).toBe(false);
  });

  it('000 never carries a state, and every (birth_year, zip3, state) is shared by at least k members', () => {
    for (const d of releases) {
      const rows = readCsv(join(d, 'members.csv')).slice(1);
      expect(rows).toHaveLength(60);
      const counts = new Map<string, number>();
      for (const r of rows) {
        if (r[2] === '000') expect(r[3]).toBe('');
        const k = `${r[1]},${r[2]},${r[3]}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const [k, n] of counts) expect(n, k).toBeGreaterThanOrEqual(5);
      const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
      expect(manifest.k_anonymity.k).toBe(5);
      expect(manifest.k_anonymity.generalised_rows).toBeGreaterThan(0);
      expect(manifest.k_anonymity.below_k).toBe(0);
    }
  });

  it('weak keys are refused with 78 and a hint to run rewards keygen; the fingerprint is an HMAC of the key', async () => {
    for (const key of ['x'.repeat(44), 'test-only-acme-key-3f9c1e7a5b2d4c6e8f0a1b3c5d7e9f11', Buffer.alloc(32, 1).toString('base64')]) {
      const r = await ws.cli(['export', '--partner', 'acme', '--as-of', '2026-12-31'], { env: { REWARDS_KEY_ACME: key } });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain('rewards keygen');
      expect(r.stderr).not.toContain(key);
    }
    const manifest = JSON.parse(readFileSync(join(releases[2]!, 'manifest.json'), 'utf8'));
    const { createHmac } = await import('node:crypto');
    expect(manifest.key_fingerprint).toBe(createHmac('sha256', Buffer.from(KEYS.REWARDS_KEY_ACME!)).update('rewards partner key fingerprint v1').digest('hex').slice(0, 16));
  });
});

// ---- the partner's arithmetic, done independently of src/ ----

type Row = string[];
const highsLoader = highsPackage as unknown as () => Promise<Highs>;

/**
 * The interval of every hidden count in one summary table, from the published rows alone: row and
 * column sums for grants and amounts, hidden cells >= 1, amount = grants x reward on rule rows
 * (integers), members bounded by grants and totals.
 */
async function partnerIntervals(rows: Row[], kind: 'grants' | 'members', rewards: Record<string, number> = {}): Promise<{ cell: string; min: number; max: number }[]> {
  const highs = await highsLoader();
  const keyR = kind === 'grants' ? 3 : 5;
  const keyC = kind === 'grants' ? 4 : 6;
  const countCol = kind === 'grants' ? 8 : 7;
  const cells = rows.map((r, i) => ({ i, row: r[keyR]!, col: r[keyC]!, hidden: r[10] === 'true', amountHidden: r[10] !== 'false', g: Number(r[countCol]), m: Number(r[7]), a: Number(r[9]) }));
  const term = (c: (typeof cells)[number], q: 'g' | 'a' | 'm') => (q === 'a' ? c.amountHidden : c.hidden) ? { v: `${q}${c.i}`, k: 0 } : { v: null, k: c[q] };
  const cons: string[] = [];
  const eq = (lhs: { v: string | null; k: number }[], rhs: { v: string | null; k: number }[], op = '=') => {
    const vars = new Map<string, number>();
    let k = 0;
    for (const t of lhs) t.v ? vars.set(t.v, (vars.get(t.v) ?? 0) + 1) : (k -= t.k);
    for (const t of rhs) t.v ? vars.set(t.v, (vars.get(t.v) ?? 0) - 1) : (k += t.k);
    if (vars.size === 0) return;
    cons.push(` q${cons.length}: ${[...vars].map(([v, c]) => `${c < 0 ? '-' : '+'} ${Math.abs(c)} ${v}`).join(' ')} ${op} ${k}`);
  };
  const T = '(total)';
  for (const axis of ['row', 'col'] as const) {
    const other = axis === 'row' ? 'col' : 'row';
    for (const key of new Set(cells.map((c) => c[axis]))) {
      const line = cells.filter((c) => c[axis] === key);
      const total = line.find((c) => c[other] === T);
      const parts = line.filter((c) => c[other] !== T);
      if (!total) continue;
      eq([term(total, 'g')], parts.map((c) => term(c, 'g')));
      if (kind === 'grants') {
        eq([term(total, 'a')], parts.map((c) => term(c, 'a')));
        for (const c of parts) eq([term(c, 'm')], [term(total, 'm')], '<=');
      }
    }
  }
  if (kind === 'grants') {
    for (const c of cells) {
      if (c.hidden) eq([term(c, 'm')], [term(c, 'g')], '<=');
      const r = rewards[c.row];
      if (r !== undefined && c.amountHidden) cons.push(` u${c.i}: a${c.i} - ${r} ${c.hidden ? `g${c.i} = 0` : `= ${r * c.g}`}`);
    }
  }
  const vars = [...new Set(cons.join(' ').match(/\b[gam]\d+\b/g) ?? [])];
  const body = `Subject To\n${cons.join('\n')}\nBounds\n${vars.map((v) => ` ${v} >= ${v[0] === 'a' ? 0 : 1}`).join('\n')}\nGeneral\n ${vars.join(' ')}\nEnd\n`;
  const out: { cell: string; min: number; max: number }[] = [];
  for (const c of cells.filter((x) => x.hidden)) {
    const v = `g${c.i}`;
    const solve = (lp: string) => {
      const r = highs.solve(lp);
      return r.Status === 'Primal infeasible or unbounded' ? highs.solve(lp, { presolve: 'off' }) : r;
    };
    const lo = solve(`Minimize\n obj: ${v}\n${body}`);
    const hi = solve(`Maximize\n obj: ${v}\n${body}`);
    expect(lo.Status).toBe('Optimal');
    out.push({ cell: `${c.row}/${c.col}`, min: lo.ObjectiveValue, max: hi.Status === 'Unbounded' ? Infinity : hi.ObjectiveValue });
  }
  return out;
}

describe("summary.csv survives the partner's arithmetic", () => {
  it('hidden rule cells cannot be solved from the totals and the known rewards (1000a + 300b = 6500)', async () => {
    const ws = makeWs({ ...CONFIG, partners: [{ ...CONFIG.partners[0], k_anonymity: 1 }] }, 'rewards-audit-grants-');
    await loadMembers(ws, population());
    // birth 30 and five-days 40 grants are shown; active 5 and ten-symptoms 5 are small: hidden, and
    // with the grand total they satisfy g_a + g_t = 10, 1000 g_a + 300 g_t = 6500, which only (5, 5) solves.
    const grants = [
      ...Array.from({ length: 30 }, (_, i) => ({ rule_id: 'birth', user_id: id(i), amount_cents: 2500 })),
      ...Array.from({ length: 40 }, (_, i) => ({ rule_id: 'five-days', user_id: id(i + 10), amount_cents: 500 })),
      ...Array.from({ length: 5 }, (_, i) => ({ rule_id: 'active', user_id: id(i + 50), amount_cents: 1000 })),
      ...Array.from({ length: 5 }, (_, i) => ({ rule_id: 'ten-symptoms', user_id: id(i + 55), amount_cents: 300 })),
    ].map((g) => ({ ...g, campaign_id: 'spring-2026', reward_code: 'X', earned_on: '2026-03-20' }));
    insertGrants(ws, grants);
    const r = await exportAs(ws, '2026-12-31');
    const rows = readCsv(join(r.dir, 'summary.csv')).filter((x) => x[0] === 'grants');
    const hidden = rows.filter((x) => x[10] === 'true').map((x) => `${x[3]}/${x[4]}`);
    expect(hidden).toEqual(expect.arrayContaining(['active/2026', 'active/(total)', 'ten-symptoms/2026', 'ten-symptoms/(total)']));
    // More than cell size hid: the equation had to be broken.
    expect(rows.filter((x) => x[10] !== 'false').length).toBeGreaterThan(4);
    const intervals = await partnerIntervals(rows, 'grants', REWARDS);
    expect(intervals.length).toBeGreaterThanOrEqual(4);
    for (const iv of intervals) expect(iv.max - iv.min, `${iv.cell}: [${iv.min}, ${iv.max}]`).toBeGreaterThanOrEqual(5);
  });

  it('hidden members cells are not pinned by the row and column totals', async () => {
    // 021: 2 in the 1980s, 3 in the 1990s, 20 in the 2000s; 606: 20 in each. Cell size hides 021's
    // 2 and 3, complements hide 606's 1980s and 1990s; then 021's shown total and 2000s cell say the
    // two hidden cells add up to 5: each is pinned to [1, 4] unless more is hidden.
    const members: MemberIn[] = [];
    const add = (n: number, zip: string, year: number) => {
      for (let i = 0; i < n; i++) members.push({ user_id: id(members.length), birth_date: `${year}-01-01`, zip, state: '', partner: 'acme', share_consent: true });
    };
    add(2, '02139', 1985);
    add(3, '02139', 1995);
    add(20, '02139', 2005);
    add(20, '60614', 1985);
    add(20, '60614', 1995);
    add(20, '60614', 2005);
    const ws = makeWs({ ...CONFIG, partners: [{ ...CONFIG.partners[0], k_anonymity: 1 }] }, 'rewards-audit-members-');
    await loadMembers(ws, members);
    const r = await exportAs(ws, '2026-12-31');
    const rows = readCsv(join(r.dir, 'summary.csv')).filter((x) => x[0] === 'members');
    // More than the four cells of cell size and complements are hidden.
    expect(rows.filter((x) => x[10] === 'true').length).toBeGreaterThan(4);
    const intervals = await partnerIntervals(rows, 'members');
    for (const iv of intervals) expect(iv.max - iv.min, `${iv.cell}: [${iv.min}, ${iv.max}]`).toBeGreaterThanOrEqual(5);
  });
});
