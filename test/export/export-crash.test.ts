import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers.js';
import { type EventIn, loadEvents, loadMembers, KEYS, makeWs, type MemberIn, sha256sumCheck, type Workspace } from '../workspace.js';

// kill -9 at every step of an export that replaces a previous one: the folder must always be the
// previous export or the new one, complete and verifiable, never a mix and never missing.

const AS_OF = '2026-04-30';
const FILES = ['SHA256SUMS', '_SUCCESS', 'activity.csv', 'grants.csv', 'manifest.json', 'members.csv', 'summary.csv'];
const DATA = ['members.csv', 'grants.csv', 'activity.csv', 'summary.csv'];

const CONFIG = {
  timezone: 'UTC',
  campaigns: [
    {
      id: 'spring-2026',
      start: '2026-03-01',
      end: '2026-05-31',
      rules: [
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, reward: { code: 'GIFT-5', amount_cents: 500, currency: 'USD' } },
        { id: 'ten-symptoms', type: 'event_count', event_type: 'symptom_logged', min_events: 10, reward: { code: 'GIFT-3', amount_cents: 300, currency: 'USD' } },
      ],
    },
  ],
  // Day precision gives one activity row per member, type and day: a bigger export to interrupt.
  partners: [{ id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['spring-2026'], date_precision: 'day', safe_harbor: false }],
};

const N_MEMBERS = 12_000;
const EVENTS_PER_MEMBER = 4;

function members(from: number, to: number): MemberIn[] {
  const out: MemberIn[] = [];
  for (let i = from; i < to; i++) {
    out.push({ user_id: `crash-${i}`, birth_date: `19${50 + (i % 50)}-01-15`, zip: `${10000 + ((i * 7919) % 89999)}`, state: 'CA', partner: 'acme', share_consent: true });
  }
  return out;
}

function events(from: number, to: number): EventIn[] {
  const out: EventIn[] = [];
  for (let i = from; i < to; i++) {
    for (let k = 0; k < EVENTS_PER_MEMBER; k++) {
      out.push({ user_id: `crash-${i}`, event_type: k % 3 === 2 ? 'symptom_logged' : 'data_logged', date: `2026-0${3 + (k % 2)}-${String(1 + ((i + k * 5) % 28)).padStart(2, '0')}` });
    }
  }
  return out;
}

/** The data files' hashes of what `<as-of>` points to now, after checking it is a complete, valid export; null when absent. */
function snapshot(ws: Workspace): string | null {
  const dir = ws.exportDir('acme', AS_OF);
  if (!existsSync(dir)) {
    // No folder: allowed only before any export completed; a dangling link would fail here.
    expect(() => lstatSync(dir), 'a dangling <as-of> link').toThrow();
    return null;
  }
  expect(readdirSync(dir).sort()).toEqual(FILES);
  const check = sha256sumCheck(dir);
  expect(check.code, check.out).toBe(0);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { name: string; sha256: string }[] };
  const hashes = DATA.map((f) => createHash('sha256').update(readFileSync(join(dir, f))).digest('hex'));
  expect(manifest.files.map((f) => f.sha256)).toEqual(hashes);
  return hashes.join(',');
}

async function exportOnce(ws: Workspace): Promise<void> {
  const r = await ws.cli(['export', '--partner', 'acme', '--as-of', AS_OF, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}

/**
 * Every place an export can die that matters: before anything is written, in the middle of each
 * data file (past the writer's first flush), after each file, after the manifest and the sums, once
 * complete, once in the release ledger but not yet published, and once published but not recorded
 * as an export. The export stops itself
 * there (REWARDS_CRASH_AT, src/util/crash-point.ts) with SIGKILL: the same as a kill -9 at that
 * moment, at a known place, so the test replays exactly.
 */
const CRASH_POINTS = [
  'export:staging',
  // members.csv and activity.csv are the files long enough to be caught mid-write
  'export:writing:members.csv',
  ...DATA.flatMap((f) => (f === 'activity.csv' ? ['export:writing:activity.csv', `export:written:${f}`] : [`export:written:${f}`])),
  'export:manifest',
  'export:sums',
  'export:complete',
  'export:recorded',
  'export:published',
];

/** Runs an export that kills itself at `point`; resolves with the signal that ended it. */
async function killedAt(ws: Workspace, point: string, signal = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawnCli(['--db', ws.db, '--config', ws.configPath, 'export', '--partner', 'acme', '--as-of', AS_OF, '--quiet'], {
    cwd: ws.dir,
    env: { ...KEYS, REWARDS_CRASH_AT: point, REWARDS_CRASH_SIGNAL: signal },
  });
  child.stdin!.end();
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ code, signal: sig, stderr }));
  });
}

describe('rewards export: kill -9 at every step', () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = makeWs(CONFIG, 'rewards-export-crash-');
    await loadMembers(ws, members(0, N_MEMBERS));
    await loadEvents(ws, events(0, N_MEMBERS));
  }, 300_000);

  it('leaves no folder, or a complete one, when the first export is killed', async () => {
    for (const point of CRASH_POINTS) {
      const r = await killedAt(ws, point);
      expect(r.signal, `${point}: ${r.stderr}`).toBe('SIGKILL');
      const s = snapshot(ws);
      // Only once the link is renamed is there a folder.
      if (point === 'export:published') expect(s, point).not.toBeNull();
      else expect(s, point).toBeNull();
    }
  }, 300_000);

  it('leaves the previous export or the new one, never a mix, and the next export cleans up', async () => {
    await exportOnce(ws);
    const previous = snapshot(ws)!;
    expect(previous).not.toBeNull();

    // New data: the next export differs from the previous one in every data file.
    await loadMembers(ws, members(N_MEMBERS, N_MEMBERS + 300), 'members-2.csv');
    await loadEvents(ws, events(N_MEMBERS, N_MEMBERS + 300), 'events-2.csv');

    const seen = new Map<string, string>();
    for (const point of CRASH_POINTS) {
      const r = await killedAt(ws, point);
      expect(r.signal, `${point}: ${r.stderr}`).toBe('SIGKILL');
      seen.set(point, snapshot(ws)!);
    }

    await exportOnce(ws);
    const next = snapshot(ws)!;
    expect(next).not.toBe(previous);
    for (const [point, s] of seen) expect(s, point).toBe(point === 'export:published' ? next : previous);
    // What killed exports left behind (staging folders, a half-made link) is gone; one version remains.
    const partnerDir = join(ws.outbox, 'acme');
    const target = readlinkSync(ws.exportDir('acme', AS_OF));
    expect(readdirSync(partnerDir).filter((n) => n.includes(AS_OF)).sort()).toEqual([target, AS_OF].sort());
  }, 600_000);

  it('Ctrl-C stops an export between rows: exit 75, staging removed, previous export untouched', async () => {
    const before = snapshot(ws)!;
    const target = readlinkSync(ws.exportDir('acme', AS_OF));
    const partnerDir = join(ws.outbox, 'acme');
    for (const point of ['export:writing:members.csv', 'export:writing:activity.csv']) {
      const r = await killedAt(ws, point, 'SIGINT');
      expect(r.code, `${point}: ${r.stderr}`).toBe(75);
      expect(r.stderr).toContain('interrupted by SIGINT');
      expect(readdirSync(partnerDir).filter((n) => n.includes(AS_OF)).sort()).toEqual([target, AS_OF].sort());
      expect(snapshot(ws)).toBe(before);
    }
    // The lock was released: the next export runs at once.
    await exportOnce(ws);
  }, 120_000);
});
