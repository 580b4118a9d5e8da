/**
 * Third-party suites, read in place (never copied into the project): csv-spectrum and JSONTestSuite.
 * They live in $REWARDS_TESTSUITES, else ../shared/testsuites; without them these tests are skipped.
 */
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type InputRecord, readRecords } from '../../src/ingest/records.js';
import { namesMapping } from '../../src/ingest/mapping.js';
import { openSource } from '../../src/ingest/source.js';
import { parseJsonOutput, runCli, sqlite, sqliteValue, tempDir, testsuitesDir, TESTSUITES_HOWTO } from '../helpers.js';
import type { JsonReport } from './expected.js';

const SUITES = testsuitesDir();
if (!SUITES) console.warn(`[test/ingest/testsuites.test.ts] skipped: ${TESTSUITES_HOWTO}`);

async function readAll(path: string, fields: string[]): Promise<InputRecord[]> {
  const src = await openSource(path, undefined, Readable.from([]));
  const out: InputRecord[] = [];
  for await (const b of readRecords(src, { mapping: namesMapping(fields), required: [], limits: DEFAULT_LIMITS }, () => {}).batches) out.push(...b);
  return out;
}

describe.skipIf(!SUITES)('csv-spectrum: every csvs/NAME.csv parses to json/NAME.json', { timeout: 60_000 }, () => {
  const root = join(SUITES ?? '', 'csv-spectrum');
  const names = SUITES ? readdirSync(join(root, 'csvs')).filter((f) => f.endsWith('.csv')).map((f) => basename(f, '.csv')) : [];

  it('finds the suite', () => {
    expect(names.length).toBeGreaterThanOrEqual(12);
  });

  it.each(names)('%s', async (name) => {
    let expected = JSON.parse(readFileSync(join(root, 'json', `${name}.json`), 'utf8')) as Record<string, string>[] | Record<string, string>;
    // Known errata of the upstream suite (github.com/max-mapper/csv-spectrum issues #20 and #22):
    // location_coordinates.json is an object, not an array, and its phone number is not the CSV's.
    if (!Array.isArray(expected)) expected = [expected];
    if (name === 'location_coordinates') expected = expected.map((r) => ({ ...r, 'Contact Phone Number': '2095257564' }));

    const header = Object.keys(expected[0]!);
    const records = await readAll(join(root, 'csvs', `${name}.csv`), header);
    expect(records.filter((r) => r.error)).toEqual([]);
    expect(records.map((r) => r.fields)).toEqual(expected);
  });
});

describe.skipIf(!SUITES)('JSONTestSuite: each test_parsing file as an NDJSON record', { timeout: 60_000 }, () => {
  const dir = join(SUITES ?? '', 'JSONTestSuite', 'test_parsing');
  const all = SUITES ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  const n = all.filter((f) => f.startsWith('n_'));
  const i = all.filter((f) => f.startsWith('i_'));
  const y = all.filter((f) => f.startsWith('y_'));

  it('finds the suite', () => {
    expect(n.length).toBeGreaterThan(150);
    expect(i.length).toBeGreaterThan(20);
    expect(y.length).toBeGreaterThan(50);
  });

  it('the NDJSON reader rejects every line of every n_ file with a reason (or the whole file, for NUL bytes / no data)', async () => {
    const tmp = tempDir('rewards-jsonsuite-');
    const problems: string[] = [];
    for (const f of n) {
      const bytes = readFileSync(join(dir, f));
      const path = join(tmp, f.replace(/\.json$/, '.ndjson'));
      writeFileSync(path, bytes);
      let records: InputRecord[];
      try {
        records = await readAll(path, ['user_id', 'event_type', 'occurred_at']);
      } catch (err) {
        // only a file-level refusal with a reason naming the file is acceptable
        const msg = (err as Error).message;
        if (!(msg.startsWith(path + ': ') && /binary file|empty file/.test(msg))) problems.push(`${f}: threw ${msg}`);
        continue;
      }
      if (records.length === 0) problems.push(`${f}: no record and no error`);
      for (const r of records) {
        if (r.fields || !r.error) problems.push(`${f}: line ${r.line} accepted as ${JSON.stringify(r.fields)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the NDJSON reader accepts every y_ file that is one JSON object', async () => {
    const tmp = tempDir('rewards-jsonsuite-');
    let objects = 0;
    for (const f of y) {
      const bytes = readFileSync(join(dir, f));
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString('utf8'));
      } catch {
        continue;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value) || bytes.includes(10)) continue;
      objects++;
      const path = join(tmp, f.replace(/\.json$/, '.ndjson'));
      writeFileSync(path, bytes);
      const records = await readAll(path, ['a']);
      expect(records.map((r) => r.error ?? 'ok'), f).toEqual(['ok']);
    }
    expect(objects).toBeGreaterThan(5);
  });

  /**
   * Through the CLI, in one run: each n_/i_ file sandwiched between two valid events. The valid
   * events are stored, the file's own lines are rejected with reasons, nothing else is stored, and
   * nothing crashes (no exit 1).
   */
  async function sandwich(files: string[]) {
    const tmp = tempDir('rewards-jsonsuite-cli-');
    const paths: string[] = [];
    const lineCount = new Map<string, number>();
    const event = (id: string) => JSON.stringify({ event_id: id, user_id: 'u', event_type: 'probe', occurred_at: '2026-03-01T12:00:00Z' });
    for (const f of files) {
      const bytes = readFileSync(join(dir, f));
      const body = bytes.length && bytes[bytes.length - 1] !== 10 ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes;
      const path = join(tmp, f.replace(/\.json$/, '.ndjson'));
      writeFileSync(path, Buffer.concat([Buffer.from(event(`before:${f}`) + '\n'), body, Buffer.from(event(`after:${f}`) + '\n')]));
      paths.push(path);
      // lines of the suite file as the reader sees them (empty lines are skipped)
      lineCount.set(path, body.toString('latin1').split('\n').slice(0, -1).filter((l) => l.replace(/\r$/, '') !== '').length);
    }
    const db = join(tmp, 'r.db');
    const r = await runCli(['--db', db, '--json', 'ingest', '--max-reject-rate', '1', ...paths], { timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect([0, 65]).toContain(r.code);
    const report = parseJsonOutput<JsonReport>(r);
    expect(report.files.length).toBe(paths.length);
    return { db, report, lineCount };
  }

  it('CLI: every n_ line is rejected with a reason; only the surrounding valid events are stored', async () => {
    const withData = n.filter((f) => readFileSync(join(dir, f)).length > 0);
    const { db, report, lineCount } = await sandwich(withData);
    const shas = new Map<string, string>();
    for (const f of report.files) {
      const name = basename(f.path).replace(/\.ndjson$/, '.json');
      const sha = createHash('sha256').update(readFileSync(f.path)).digest('hex');
      expect(shas.has(sha), `${name} has the same bytes as ${shas.get(sha)}`).toBe(false);
      shas.set(sha, name);
      const batch = f.batch_id!;
      if (f.status === 'failed') {
        // NUL bytes: the whole file is refused before any row is read
        expect(f.error, name).toMatch(/looks like a binary file/);
        expect(sqliteValue(db, 'SELECT count(*) FROM events WHERE batch_id = ?', batch), name).toBe(0);
        continue;
      }
      const lines = lineCount.get(f.path)!;
      expect([f.status, f.rows, f.inserted, f.rejected], name).toEqual(['ingested', lines + 2, 2, lines]);
      const rejects = sqlite<{ line: number; reason: string }>(db, 'SELECT line, reason FROM rejects WHERE batch_id = ? ORDER BY line', batch);
      expect(rejects.length, name).toBe(lines);
      for (const rj of rejects) expect(rj.reason, name).toMatch(/^line \d+: (invalid JSON \(|expected a JSON object|is not valid UTF-8|has only whitespace)/);
      expect(sqlite(db, 'SELECT event_id FROM events WHERE batch_id = ? ORDER BY event_id', batch), name).toEqual([
        { event_id: `after:${name}` },
        { event_id: `before:${name}` },
      ]);
    }
    // nothing but the probes anywhere, and no failed batch marked complete
    expect(sqliteValue(db, "SELECT count(*) FROM events WHERE event_id NOT LIKE 'before:%' AND event_id NOT LIKE 'after:%'")).toBe(0);
    const failed = report.files.filter((f) => f.status === 'failed').map((f) => f.batch_id);
    expect(sqlite(db, 'SELECT batch_id, status FROM batches WHERE status = ?', 'complete').filter((b) => failed.includes(b.batch_id as number))).toEqual([]);
    expect(failed.length).toBeLessThan(8);
  });

  it('CLI: an n_ file with no data at all is an empty file (65)', async () => {
    const empty = n.filter((f) => readFileSync(join(dir, f)).length === 0);
    expect(empty.length).toBeGreaterThan(0);
    const r = await runCli(['--db', join(tempDir(), 'r.db'), 'ingest', ...empty.map((f) => join(dir, f))], { cwd: tempDir() });
    expect(r.code).toBe(64); // .json is not an ingest extension: tell it the format
    const r2 = await runCli(['--db', join(tempDir(), 'r.db'), 'ingest', '--format', 'ndjson', ...empty.map((f) => join(dir, f))]);
    expect(r2.code).toBe(65);
    expect(r2.stderr).toMatch(/empty file/);
  });

  it('CLI: i_ files do not crash; nothing but the surrounding valid events is stored', async () => {
    const { db, report } = await sandwich(i);
    for (const f of report.files) {
      expect(['ingested', 'failed'], f.path).toContain(f.status);
      if (f.status === 'failed') expect(f.error).toMatch(/\S/);
    }
    expect(sqliteValue(db, "SELECT count(*) FROM events WHERE event_id NOT LIKE 'before:%' AND event_id NOT LIKE 'after:%'")).toBe(0);
  });
});
