import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers.js';
import { type EventIn, ingestEvents, ingestMembers, KEYS, makeWs, type MemberIn, sha256sumCheck, type Ws } from './ws.js';

// kill -9 at random moments of an export that replaces a previous one: the folder must always be the
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
  partners: [{ id: 'acme', key_env: 'TEST_KEY_ACME', campaigns: ['spring-2026'], date_precision: 'day', safe_harbor: false }],
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
function snapshot(ws: Ws): string | null {
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

async function exportOnce(ws: Ws): Promise<number> {
  const t = Date.now();
  const r = await ws.cli(['export', '--partner', 'acme', '--as-of', AS_OF, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  return Date.now() - t;
}

/**
 * Starts an export and SIGKILLs it: after `delayMs`, or, with `afterStaging`, that long after its
 * staging folder appears (a kill in the middle of writing files, whatever the start-up time).
 * Resolves with how it ended and whether the staging folder existed when the kill was sent.
 */
function killedExport(ws: Ws, delayMs: number, afterStaging = false): Promise<{ how: 'killed' | 'finished'; midWrite: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(['--db', ws.db, '--config', ws.configPath, 'export', '--partner', 'acme', '--as-of', AS_OF, '--quiet'], {
      cwd: ws.dir,
      env: KEYS,
    });
    child.stdin!.end();
    const partnerDir = join(ws.outbox, 'acme');
    const staging = () => {
      try {
        const current = existsSync(ws.exportDir('acme', AS_OF)) ? readlinkSync(ws.exportDir('acme', AS_OF)) : '';
        return readdirSync(partnerDir).some((n) => n.startsWith(`.${AS_OF}.`) && n !== current);
      } catch {
        return false;
      }
    };
    let midWrite = false;
    let timer: NodeJS.Timeout | undefined;
    const kill = () => {
      midWrite = staging();
      child.kill('SIGKILL');
    };
    if (afterStaging) {
      const poll = setInterval(() => {
        if (!staging()) return;
        clearInterval(poll);
        timer = setTimeout(kill, delayMs);
      }, 2);
      child.on('close', () => clearInterval(poll));
    } else timer = setTimeout(kill, delayMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ how: 'killed', midWrite });
      else if (code === 0) resolve({ how: 'finished', midWrite: false });
      else reject(new Error(`export exited ${code}`));
    });
  });
}

// Deterministic "random" delays: a failure can be replayed.
let seed = 20260430;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

describe('rewards export: kill -9 at any moment', () => {
  let ws: Ws;
  let fullMs = 0;

  beforeAll(async () => {
    ws = makeWs(CONFIG, 'rewards-export-crash-');
    await ingestMembers(ws, members(0, N_MEMBERS));
    await ingestEvents(ws, events(0, N_MEMBERS));
    // Measure a full export on another date, to spread the kills over its whole length.
    const t = Date.now();
    const r = await ws.cli(['export', '--partner', 'acme', '--as-of', '2026-04-29', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    fullMs = Date.now() - t;
  }, 300_000);

  it('leaves no folder or a complete one when the first export is killed', async () => {
    for (let i = 0; i < 4; i++) {
      const { how } = await killedExport(ws, rand() * fullMs, i % 2 === 1);
      const s = snapshot(ws);
      if (how === 'finished') expect(s).not.toBeNull();
    }
  }, 300_000);

  it('leaves the previous export or the new one, never a mix, and the next export cleans up', async () => {
    await exportOnce(ws);
    const previous = snapshot(ws)!;
    expect(previous).not.toBeNull();

    // New data: the next export differs from the previous one in every data file.
    await ingestMembers(ws, members(N_MEMBERS, N_MEMBERS + 300), 'members-2.csv');
    await ingestEvents(ws, events(N_MEMBERS, N_MEMBERS + 300), 'events-2.csv');

    // Half the kills at any moment of the whole run, half while files are being written.
    const seen: string[] = [];
    let midWrite = 0;
    for (let i = 0; i < 12; i++) {
      const r = await killedExport(ws, i % 2 === 0 ? rand() * fullMs : rand() * fullMs * 0.5, i % 2 === 1);
      if (r.how === 'killed' && r.midWrite) midWrite++;
      seen.push(snapshot(ws)!);
    }
    expect(midWrite, `only ${midWrite} of 12 kills hit an export while it was writing (full export: ${fullMs} ms)`).toBeGreaterThanOrEqual(3);

    await exportOnce(ws);
    const next = snapshot(ws)!;
    expect(next).not.toBe(previous);
    for (const s of seen) expect([previous, next]).toContain(s);
    // What killed exports left behind (staging folders, a half-made link) is gone; one version remains.
    const partnerDir = join(ws.outbox, 'acme');
    const target = readlinkSync(ws.exportDir('acme', AS_OF));
    expect(readdirSync(partnerDir).filter((n) => n.includes(AS_OF)).sort()).toEqual([target, AS_OF].sort());
  }, 600_000);

  it('Ctrl-C stops an export between rows: exit 75, staging removed, previous export untouched', async () => {
    const before = snapshot(ws)!;
    const target = readlinkSync(ws.exportDir('acme', AS_OF));
    const partnerDir = join(ws.outbox, 'acme');
    const child = spawnCli(['--db', ws.db, '--config', ws.configPath, 'export', '--partner', 'acme', '--as-of', AS_OF], { cwd: ws.dir, env: KEYS });
    child.stdin!.end();
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const poll = setInterval(() => {
      if (readdirSync(partnerDir).some((n) => n.startsWith(`.${AS_OF}.`) && n !== target)) {
        clearInterval(poll);
        child.kill('SIGINT');
      }
    }, 2);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearInterval(poll);
    expect(code, stderr).toBe(75);
    expect(stderr).toContain('interrupted by SIGINT');
    expect(readdirSync(partnerDir).filter((n) => n.includes(AS_OF)).sort()).toEqual([target, AS_OF].sort());
    expect(snapshot(ws)).toBe(before);
    // The lock was released: the next export runs at once.
    await exportOnce(ws);
  }, 120_000);
});
