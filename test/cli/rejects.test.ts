/** `rewards rejects`: the rejected rows of ingest, as CSV. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runCli, tempDir } from '../helpers.js';
import { fixture } from '../ingest/expected.js';

describe('rewards rejects', { timeout: 60_000 }, () => {
  const dir = tempDir();
  const db = join(dir, 'r.db');
  const first = join(dir, 'first.csv');
  const second = join(dir, 'second.ndjson');

  beforeAll(async () => {
    writeFileSync(
      first,
      'event_id,user_id,event_type,occurred_at,properties\n' +
        'r1,u1,steps,2026-03-01T10:00:00Z,\n' +
        'r2,u1,steps,2026-02-30T10:00:00Z,"{""note"":""a, \n""""quoted"""" note""}"\n' +
        'r3,u1,steps,2026-03-01T10:00:00Z,"[1]"\n',
    );
    writeFileSync(second, '{"user_id":"u2","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z"}\n{"user_id":"u2"}\n');
    const r1 = await runCli(['--db', db, 'ingest', '--max-reject-rate', '1', first]);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await runCli(['--db', db, 'ingest', '--max-reject-rate', '1', second, fixture('events.csv')]);
    expect(r2.code, r2.stderr).toBe(0);
  }, 60_000);

  it('prints every rejected row as CSV: batch_id,file,line,kind,field,reason,raw', async () => {
    const r = await runCli(['--db', db, 'rejects']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe('batch_id,file,line,kind,field,reason,raw');
    const rows = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      {
        batch_id: '1',
        file: first,
        line: '3',
        kind: 'row',
        field: '',
        reason: expect.stringMatching(/^line 3: occurred_at: "2026-02-30T10:00:00Z" is not a valid date-time/),
        // the raw record as written, with its quotes and the newline inside them
        raw: 'r2,u1,steps,2026-02-30T10:00:00Z,"{""note"":""a, \n""""quoted"""" note""}"',
      },
      { batch_id: '1', file: first, line: '5', kind: 'row', field: '', reason: 'line 5: properties: expected a JSON object, got an array', raw: 'r3,u1,steps,2026-03-01T10:00:00Z,"[1]"' },
      { batch_id: '2', file: second, line: '2', kind: 'row', field: '', reason: 'line 2: event_type: is required; occurred_at: is required', raw: '{"user_id":"u2"}' },
    ]);
  });

  it('--batch N: only that batch; a batch without rejects prints the header only', async () => {
    const r = await runCli(['--db', db, 'rejects', '--batch', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(r.stdout, { columns: true })).toEqual([
      { batch_id: '2', file: second, line: '2', kind: 'row', field: '', reason: 'line 2: event_type: is required; occurred_at: is required', raw: '{"user_id":"u2"}' },
    ]);
    const none = await runCli(['--db', db, 'rejects', '--batch', '3']);
    expect([none.code, none.stdout]).toEqual([0, 'batch_id,file,line,kind,field,reason,raw\n']);
  });

  it('--json', async () => {
    const r = await runCli(['--db', db, '--json', 'rejects', '--batch', '1']);
    expect(r.code, r.stderr).toBe(0);
    const out = parseJsonOutput<{ rejects: Record<string, unknown>[] }>(r);
    expect(out.rejects.map((x) => [x.batch_id, x.file, x.line])).toEqual([
      [1, first, 3],
      [1, first, 5],
    ]);
    expect(out.rejects[0]).toHaveProperty('reason');
    expect(out.rejects[0]).toHaveProperty('raw');
  });

  it('usage errors (64) and a database that does not exist (66, and none is created)', async () => {
    const missing = join(dir, 'nope', 'none.db');
    const [r, ...bad] = await Promise.all([runCli(['--db', missing, 'rejects']), ...['0', 'abc', '1.5'].map((b) => runCli(['--db', db, 'rejects', '--batch', b]))]);
    for (const x of bad) {
      expect(x.code).toBe(64);
      expect(x.stderr).toMatch(/--batch takes a batch number/);
    }
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^rewards: .*none\.db: cannot open the database/);
    expect(existsSync(missing)).toBe(false);
  });
});
