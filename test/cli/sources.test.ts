/**
 * `rewards ingest --source`: the vendors' export formats (fixtures/sources), field paths, epoch
 * units, naive UTC times, record offsets, zip archives, and mapping mistakes that are never silent.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { type CliResult, parseJsonOutput, PROJECT_ROOT, runCli, sqlite, tempDir } from '../helpers.js';

const FIXTURES = join(PROJECT_ROOT, 'fixtures/sources');
const FILES = {
  segment: 'segment-2026-03.ndjson',
  amplitude: 'amplitude-187520-2026-03.zip',
  mixpanel: 'mixpanel-2026-03.ndjson',
  ga4: 'ga4-2026-03.ndjson',
} as const;

/** A program in Los Angeles: a five-day streak of data_logged in March. */
function workspace(extra: Record<string, unknown> = {}): { dir: string; db: string; cli: (args: string[]) => Promise<CliResult> } {
  const dir = tempDir();
  const config = {
    timezone: 'America/Los_Angeles',
    campaigns: [
      {
        id: 'march',
        start: '2026-03-01',
        end: '2026-03-31',
        rules: [{ id: 'five-days', type: 'streak', days: 5, event_type: 'data_logged', reward: { code: 'STREAK5', amount_cents: 500, currency: 'USD' } }],
      },
    ],
    paths: { grants: 'grants', outbox: 'outbox', inbox: 'inbox', archive: 'archive' },
    ...extra,
  };
  writeFileSync(join(dir, 'rewards.config.json'), JSON.stringify(config, null, 2));
  const db = join(dir, 'rewards.db');
  return { dir, db, cli: (args) => runCli(['--db', db, '--config', join(dir, 'rewards.config.json'), ...args], { cwd: dir }) };
}

function datesOf(db: string, user: string): string[] {
  return sqlite<{ local_date: string }>(db, "SELECT local_date FROM events WHERE user_id = ? AND event_type = 'data_logged' ORDER BY local_date", user).map((r) => r.local_date);
}

const MARCH_2_TO_6 = ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06'];

describe('vendor sources', { timeout: 60_000 }, () => {
  // Tokyo's events are at 00:30 local: only a format that carries the zone (Segment's
  // context.timezone, GA4's device offset) dates them in Tokyo; the others fall back to the config's zone.
  const tokyo = {
    segment: MARCH_2_TO_6,
    ga4: MARCH_2_TO_6,
    amplitude: ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05'],
    mixpanel: ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05'],
  };
  for (const source of Object.keys(FILES) as (keyof typeof FILES)[]) {
    it(`${source}: a Los Angeles member logging at 21:30 local on five days earns the streak`, async () => {
      const w = workspace();
      const r = await w.cli(['--json', 'ingest', '--source', source, join(FIXTURES, FILES[source])]);
      expect(r.code, r.stderr).toBe(0);
      const file = parseJsonOutput<{ files: { rows: number; inserted: number; rejected: number; source: string; mapping: Record<string, string>; warnings: string[] }[] }>(r).files[0]!;
      expect([file.rows, file.inserted, file.rejected, file.source, file.warnings]).toEqual([11, 11, 0, source, []]);
      expect(datesOf(w.db, 'm-la')).toEqual(MARCH_2_TO_6);
      expect(datesOf(w.db, 'm-tokyo')).toEqual(tokyo[source]);
      const run = await w.cli(['--json', 'run', '--as-of', '2026-03-10']);
      expect(run.code, run.stderr).toBe(0);
      const grants = sqlite<{ user_id: string; earned_on: string }>(w.db, 'SELECT user_id, earned_on FROM grants ORDER BY user_id');
      expect(grants).toEqual([
        { user_id: 'm-la', earned_on: '2026-03-06' },
        { user_id: 'm-tokyo', earned_on: tokyo[source][4] },
      ]);
    });
  }

  it('the mapping applied is in the report; times are stored as ISO 8601 at the offset they came with', async () => {
    const w = workspace();
    const seg = parseJsonOutput<{ files: { mapping: Record<string, string> }[] }>(await w.cli(['--json', 'ingest', '--source', 'segment', join(FIXTURES, FILES.segment)]));
    expect(seg.files[0]!.mapping).toEqual({
      event_id: 'messageId',
      user_id: 'userId',
      event_type: 'event',
      occurred_at: 'timestamp',
      timezone: 'context.timezone',
      properties: 'properties',
    });
    const text = await w.cli(['ingest', '--source', 'ga4', join(FIXTURES, FILES.ga4)]);
    expect(text.stderr).toContain(
      'read as ga4: user_id, event_type <- event_name, occurred_at <- event_timestamp, utc_offset <- device.time_zone_offset_seconds, properties <- event_params (flattened)',
    );
    // GA4: microseconds kept, at the device's offset; event_params flattened with their types.
    const [ga4] = sqlite<{ occurred_at: string; local_date: string; properties: string }>(
      w.db,
      "SELECT occurred_at, local_date, properties FROM events WHERE user_id = 'm-la' AND occurred_at LIKE '%-08:00' ORDER BY occurred_at LIMIT 1",
    );
    expect(ga4).toEqual({ occurred_at: '2026-03-02T21:30:00.123456-08:00', local_date: '2026-03-02', properties: '{"ga_session_id":1772515500,"metric":"weight","source":"app"}' });
  });
});

describe('times a source declares', { timeout: 60_000 }, () => {
  const sources = {
    'epoch-s': { format: 'ndjson', fields: { user_id: 'who', event_type: 'what', occurred_at: 'at' }, time_unit: 's' },
    'epoch-ms': { format: 'ndjson', fields: { user_id: 'who', event_type: 'what', occurred_at: 'at' }, time_unit: 'ms' },
    'epoch-us': { format: 'ndjson', fields: { user_id: 'who', event_type: 'what', occurred_at: 'at' }, time_unit: 'us' },
    'naive-utc': { format: 'csv', fields: { user_id: 'who', event_type: 'what', occurred_at: 'at' }, naive_zone: 'UTC' },
    // A Mixpanel project created before 2023: seconds counted on the project zone's wall clock.
    'mixpanel-legacy': { format: 'ndjson', fields: { user_id: 'properties.distinct_id', event_type: 'event', occurred_at: 'properties.time' }, time_unit: 's', naive_zone: 'America/Los_Angeles' },
  };

  it('epoch seconds, milliseconds and microseconds: the unit is declared, never guessed', async () => {
    const w = workspace({ sources });
    // 2026-03-03T05:30:00Z is 21:30 on 03-02 in Los Angeles.
    const cases = [
      ['epoch-s', '1772515800', '2026-03-03T05:30:00Z'],
      ['epoch-ms', '1772515800250', '2026-03-03T05:30:00.25Z'],
      ['epoch-us', '"1772515800250001"', '2026-03-03T05:30:00.250001Z'],
    ] as const;
    for (const [source, at, stored] of cases) {
      const file = join(w.dir, `${source}.ndjson`);
      writeFileSync(file, `{"who":"${source}","what":"data_logged","at":${at}}\n{"who":"${source}","what":"data_logged","at":"soon"}\n`);
      const r = await w.cli(['--json', 'ingest', '--max-reject-rate', '1', '--source', source, file]);
      expect(r.code, r.stderr).toBe(0);
      expect(sqlite(w.db, 'SELECT occurred_at, local_date FROM events WHERE user_id = ?', source)).toEqual([{ occurred_at: stored, local_date: '2026-03-02' }]);
    }
    // 1772487000 is 2026-03-02T21:30:00 as a wall-clock count: in Los Angeles, the instant 05:30Z on 03-03.
    const legacy = join(w.dir, 'legacy.ndjson');
    writeFileSync(legacy, '{"event":"data_logged","properties":{"distinct_id":"old","time":1772487000}}\n');
    expect((await w.cli(['ingest', '--source', 'mixpanel-legacy', legacy])).code).toBe(0);
    expect(sqlite(w.db, "SELECT occurred_at, local_date FROM events WHERE user_id = 'old'")).toEqual([{ occurred_at: '2026-03-03T05:30:00Z', local_date: '2026-03-02' }]);
    const reasons = sqlite<{ reason: string }>(w.db, 'SELECT reason FROM rejects ORDER BY reject_id').map((r) => r.reason);
    expect(reasons).toEqual([
      'line 2: occurred_at: "soon" is not a Unix time in seconds (the source declares time_unit s)',
      'line 2: occurred_at: "soon" is not a Unix time in milliseconds (the source declares time_unit ms)',
      'line 2: occurred_at: "soon" is not a Unix time in microseconds (the source declares time_unit us)',
    ]);
  });

  it('a naive time declared UTC near midnight is dated in the member\'s zone, not as wall-clock time', async () => {
    const w = workspace({ sources });
    const file = join(w.dir, 'naive.csv');
    // 05:30 UTC on 03-03 is 21:30 on 03-02 in Los Angeles; 23:59:59.5 UTC on 03-03 is 15:59 there.
    writeFileSync(file, 'who,what,at\nu1,data_logged,2026-03-03 05:30:00.000000\nu2,data_logged,2026-03-03 23:59:59.500000\n');
    expect((await w.cli(['ingest', '--source', 'naive-utc', file])).code).toBe(0);
    expect(sqlite(w.db, 'SELECT user_id, occurred_at, local_date FROM events ORDER BY user_id')).toEqual([
      { user_id: 'u1', occurred_at: '2026-03-03T05:30:00Z', local_date: '2026-03-02' },
      { user_id: 'u2', occurred_at: '2026-03-03T23:59:59.5Z', local_date: '2026-03-03' },
    ]);
    // Without the source, the same time is wall-clock time: dated as written.
    const plain = join(w.dir, 'plain.csv');
    writeFileSync(plain, 'user_id,event_type,occurred_at\nu3,data_logged,2026-03-03 05:30:00.000000\n');
    expect((await w.cli(['ingest', plain])).code).toBe(0);
    expect(datesOf(w.db, 'u3')).toEqual(['2026-03-03']);
  });
});

describe('no silent mapping mistakes', { timeout: 60_000 }, () => {
  it('a misspelled --map column exits 64 before any row is read, naming the columns and the likely one', async () => {
    const w = workspace();
    const file = join(w.dir, 'events.csv');
    writeFileSync(file, 'event_id,user_id,event_type,occurred_at,tz\ne1,u1,data_logged,2026-03-03T05:30:00Z,America/Los_Angeles\n');
    const r = await w.cli(['ingest', '--map', 'timezone=tzz', file]);
    expect([r.code, r.stderr]).toEqual([64, `rewards: ${file}: --map timezone=tzz: the header has no column "tzz"; did you mean "tz"?; the header has: event_id, user_id, event_type, occurred_at, tz\n`]);
    expect(sqlite(w.db, 'SELECT count(*) AS n FROM events')).toEqual([{ n: 0 }]);
    // Fixed, it reads the zone: 21:30 on 03-02 in Los Angeles.
    expect((await w.cli(['ingest', '--map', 'timezone=tz', file])).code).toBe(0);
    expect(sqlite(w.db, 'SELECT timezone, local_date FROM events')).toEqual([{ timezone: 'America/Los_Angeles', local_date: '2026-03-02' }]);
    // A field that does not exist is refused too, with the one meant.
    const bad = await w.cli(['ingest', '--map', 'timezon=tz', file]);
    expect([bad.code, bad.stderr]).toEqual([64, 'rewards: --map: "timezon" is not a events field; did you mean timezone?; fields are event_id, user_id, event_type, occurred_at, timezone, properties, utc_offset\n']);
  });

  it('a JSON path that no record has is a warning with the count and the likely path', async () => {
    const w = workspace();
    const r = await w.cli(['--json', 'ingest', '--source', 'segment', '--map', 'timezone=context.timezon', join(FIXTURES, FILES.segment)]);
    expect(r.code).toBe(0);
    const warning = `${join(FIXTURES, FILES.segment)}: --map timezone=context.timezon, but no record has it (0 of 11); did you mean "context.timezone"?`;
    expect(r.stderr).toBe(`rewards: ${warning}\n`);
    expect(parseJsonOutput<{ files: { warnings: string[] }[] }>(r).files[0]!.warnings).toEqual([warning]);
  });

  it('an unknown source exits 64 with the near name; a config source may not take a preset\'s name', async () => {
    const w = workspace();
    const r = await w.cli(['ingest', '--source', 'segmnt', join(FIXTURES, FILES.segment)]);
    expect([r.code, r.stderr]).toEqual([64, 'rewards: --source segmnt: no such source; did you mean segment?; sources are segment, amplitude, mixpanel, ga4 (define your own under "sources" in the config)\n']);
    const shadow = workspace({ sources: { segment: { fields: { user_id: 'uid' } }, mine: { fields: { timezone: 'context..tz' } } } });
    const v = await shadow.cli(['validate']);
    expect(v.code).toBe(78);
    expect(v.stderr).toContain('sources.segment: "segment" is a built-in source; give yours another name');
    expect(v.stderr).toContain('sources.mine.fields.timezone: "context..tz" is not a field path: an empty name at 9');
  });
});

/**
 * A zip of `entries` (name -> bytes), written with yazl. yazl refuses names that climb out of a
 * folder, as a careful writer should; a hostile archive has them anyway, so such a name is written
 * as a stand-in of the same length and put back in the bytes (names are outside the CRCs).
 */
function zipOf(path: string, entries: [string, Buffer][]): Promise<void> {
  const standIn = (name: string) => name.replace(/\.\./g, '__').replace(/^\//, '_');
  return new Promise((resolve, reject) => {
    const zip = new yazl.ZipFile();
    for (const [name, data] of entries) zip.addBuffer(data, standIn(name), { mtime: new Date('2026-03-08T00:00:00Z') });
    zip.outputStream.on('error', reject);
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => {
      let bytes = Buffer.concat(chunks).toString('latin1');
      for (const [name] of entries) bytes = bytes.replaceAll(standIn(name), name);
      writeFileSync(path, Buffer.from(bytes, 'latin1'));
      resolve();
    });
    zip.end();
  });
}

const line = (id: string, user: string, at: string) => `{"event_id":"${id}","user_id":"${user}","event_type":"data_logged","occurred_at":"${at}"}\n`;

describe('zip archives', { timeout: 60_000 }, () => {
  it('two gzipped entries and one plain entry are one batch with the zip\'s sha256; again, a no-op', async () => {
    const w = workspace();
    const zip = join(w.dir, 'export.zip');
    await zipOf(zip, [
      ['day1.ndjson.gz', gzipSync(line('a1', 'u1', '2026-03-02T12:00:00Z') + line('a2', 'u2', '2026-03-02T12:00:00Z'))],
      ['day2.ndjson.gz', gzipSync(line('b1', 'u1', '2026-03-03T12:00:00Z') + '{not json\n')],
      ['day3.ndjson', Buffer.from(line('c1', 'u1', '2026-03-04T12:00:00Z'))],
    ]);
    const r = await w.cli(['--json', 'ingest', '--max-reject-rate', '1', zip]);
    expect(r.code, r.stderr).toBe(0);
    const f = parseJsonOutput<{ files: { batch_id: number; rows: number; inserted: number; rejected: number; sha256: string }[] }>(r).files[0]!;
    expect([f.batch_id, f.rows, f.inserted, f.rejected]).toEqual([1, 5, 4, 1]);
    const { createHash } = await import('node:crypto');
    expect(f.sha256).toBe(createHash('sha256').update(readFileSync(zip)).digest('hex'));
    expect(sqlite(w.db, 'SELECT batch_id, format, sha256 FROM batches')).toEqual([{ batch_id: 1, format: 'zip', sha256: f.sha256 }]);
    // The reject names its entry and its line there.
    expect(sqlite<{ reason: string; line: number }>(w.db, 'SELECT line, reason FROM rejects')).toEqual([{ line: 2, reason: expect.stringMatching(/^zip entry "day2\.ndjson\.gz": line 2: invalid JSON/) }]);
    const again = parseJsonOutput<{ files: { status: string; batch_id: number }[] }>(await w.cli(['--json', 'ingest', zip]));
    expect(again.files[0]).toMatchObject({ status: 'skipped', batch_id: 1 });
    expect(sqlite(w.db, 'SELECT count(*) AS n FROM events')).toEqual([{ n: 4 }]);
  });

  it('an entry named ../../x is read as data, and no file is created anywhere', async () => {
    const w = workspace();
    const deep = join(w.dir, 'a', 'b');
    mkdirSync(deep, { recursive: true });
    const zip = join(deep, 'evil.zip');
    await zipOf(zip, [
      ['../../x', Buffer.from(line('e1', 'u1', '2026-03-02T12:00:00Z'))],
      ['/etc/y.ndjson', Buffer.from(line('e2', 'u1', '2026-03-03T12:00:00Z'))],
    ]);
    const r = await runCli(['--db', w.db, '--json', 'ingest', '--format', 'ndjson', zip], { cwd: deep });
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<{ files: { inserted: number }[] }>(r).files[0]!.inserted).toBe(2);
    // Only the database was created, where --db said.
    expect(readdirSync(w.dir).filter((n) => !n.startsWith('rewards.db')).sort()).toEqual(['a', 'rewards.config.json']);
    expect(readdirSync(deep).sort()).toEqual(['evil.zip']);
    expect(existsSync(join(w.dir, 'x'))).toBe(false);
    expect(existsSync('/etc/y.ndjson')).toBe(false);
  });

  it('each entry is held to the limits: a zip bomb entry fails the file with 65', async () => {
    const w = workspace();
    const zip = join(w.dir, 'bomb.zip');
    // 64 MiB of one repeated line deflates to a few tens of KiB: past --max-gzip-ratio 100.
    const big = Buffer.from(line('z', 'u1', '2026-03-02T12:00:00Z').repeat((64 << 20) / 90));
    await zipOf(zip, [['big.ndjson', big]]);
    const r = await w.cli(['ingest', zip]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/bomb\.zip: big\.ndjson: decompresses to more than 100 times its \d+ bytes/);
  });
});

describe('the nightly inbox reads sources by folder and by name', { timeout: 60_000 }, () => {
  it('inbox/events/segment/ with the preset, a config source by file-name pattern', async () => {
    const w = workspace({
      sources: { backend: { format: 'ndjson', fields: { user_id: 'member', event_type: 'kind', occurred_at: 'ts' }, time_unit: 'ms', match: 'backend-*.jsonl' } },
    });
    mkdirSync(join(w.dir, 'inbox/events/segment'), { recursive: true });
    writeFileSync(join(w.dir, 'inbox/events/segment/2026-03-segment.gz'), gzipSync(readFileSync(join(FIXTURES, FILES.segment))));
    writeFileSync(join(w.dir, 'inbox/events/backend-2026-03-07.jsonl'), '{"member":"u9","kind":"data_logged","ts":1772515800000}\n');
    const r = await w.cli(['--json', 'nightly', '--as-of', '2026-03-07']);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<{ ingest: { files: number; ingested: number; rows: number } }>(r).ingest).toMatchObject({ files: 2, ingested: 2, rows: 12 });
    expect(sqlite(w.db, 'SELECT name, format FROM batches ORDER BY name')).toEqual([
      { name: '2026-03-segment.gz', format: 'ndjson' },
      { name: 'backend-2026-03-07.jsonl', format: 'ndjson' },
    ]);
    expect(datesOf(w.db, 'u9')).toEqual(['2026-03-02']);
    expect(datesOf(w.db, 'm-tokyo')).toEqual(MARCH_2_TO_6);
    expect(readdirSync(join(w.dir, 'inbox/events/segment'))).toEqual([]);
  });
});
