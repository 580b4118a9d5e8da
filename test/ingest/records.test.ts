import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EVENT_FIELDS, EVENT_REQUIRED } from '../../src/ingest/field-names.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import { type InputRecord, readRecords } from '../../src/ingest/records.js';
import { namesMapping } from '../../src/ingest/mapping.js';
import { type Format, openSource } from '../../src/ingest/source.js';
import { tempDir } from '../helpers.js';

const dir = tempDir('rewards-records-');
let fileNo = 0;

interface ReadOpts {
  name?: string;
  format?: Format;
  fields?: readonly string[];
  required?: readonly string[];
  map?: Record<string, string>;
}

/** Writes `content` to a temp file and reads its records the way ingest does. */
async function read(content: string | Buffer, opts: ReadOpts = {}): Promise<{ records: InputRecord[]; extra: string[] }> {
  const path = join(dir, `${++fileNo}-${opts.name ?? 'in.csv'}`);
  writeFileSync(path, content);
  const src = await openSource(path, opts.format, Readable.from([]));
  const stream = readRecords(src, { mapping: namesMapping(opts.fields ?? ['a', 'b'], opts.map), required: opts.required ?? ['a'], limits: DEFAULT_LIMITS }, () => {});
  const records: InputRecord[] = [];
  for await (const b of stream.batches) records.push(...b);
  return { records, extra: [...stream.extraColumns.names].sort() };
}

async function readError(content: string | Buffer, opts: ReadOpts = {}): Promise<string> {
  try {
    await read(content, opts);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the file to fail');
}

const lines = (r: { records: InputRecord[] }) => r.records.map((x) => x.line);

describe('CSV records: the line each record starts on', { timeout: 30_000 }, () => {
  it('LF, with and without a final line break', async () => {
    const r = await read('a,b\n1,2\n3,4\n');
    expect(r.records).toEqual([
      { line: 2, raw: '1,2', fields: { a: '1', b: '2' } },
      { line: 3, raw: '3,4', fields: { a: '3', b: '4' } },
    ]);
    expect(lines(await read('a,b\n1,2\n3,4'))).toEqual([2, 3]);
  });

  it('CRLF: same lines, raw without the CR', async () => {
    const r = await read('a,b\r\n1,2\r\n3,4\r\n');
    expect(r.records).toEqual([
      { line: 2, raw: '1,2', fields: { a: '1', b: '2' } },
      { line: 3, raw: '3,4', fields: { a: '3', b: '4' } },
    ]);
  });

  it('quoted newlines (LF and CRLF) push the next record down', async () => {
    const lf = await read('a,b\n1,"x\ny\nz"\n2,"p"\n3,q\n');
    expect(lf.records.map((x) => [x.line, x.fields?.b])).toEqual([
      [2, 'x\ny\nz'],
      [5, 'p'],
      [6, 'q'],
    ]);
    expect(lf.records[0]!.raw).toBe('1,"x\ny\nz"');
    const crlf = await read('a,b\r\n1,"x\r\ny"\r\n2,"p"\r\n');
    expect(crlf.records.map((x) => [x.line, x.fields?.b, x.raw])).toEqual([
      [2, 'x\r\ny', '1,"x\r\ny"'],
      [4, 'p', '2,"p"'],
    ]);
  });

  it('blank lines are skipped but counted', async () => {
    expect(lines(await read('a,b\n\n1,2\n\n\n3,4\n\n'))).toEqual([3, 6]);
    const crlf = await read('a,b\r\n\r\n1,2\r\n\r\n\r\n3,"x\r\ny"\r\n\r\n5,6\r\n');
    expect(crlf.records.map((x) => [x.line, x.raw])).toEqual([
      [3, '1,2'],
      [6, '3,"x\r\ny"'],
      [9, '5,6'],
    ]);
  });

  it('a BOM before the header, quoted or not', async () => {
    expect((await read('\uFEFFa,b\n1,2\n')).records).toEqual([{ line: 2, raw: '1,2', fields: { a: '1', b: '2' } }]);
    expect((await read('\uFEFF"a","b"\r\n1,2\r\n')).records).toEqual([{ line: 2, raw: '1,2', fields: { a: '1', b: '2' } }]);
    expect((await read(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a,b\n1,2\n')]))).records[0]!.fields).toEqual({ a: '1', b: '2' });
  });

  it('RFC 4180 quoting: commas, doubled quotes, empty fields', async () => {
    const r = await read('a,b\n"x,y","say ""hi"""\n"",\n');
    expect(r.records.map((x) => x.fields)).toEqual([
      { a: 'x,y', b: 'say "hi"' },
      { a: '', b: '' },
    ]);
  });

  it('a record with the wrong number of fields is an error for that record only', async () => {
    const r = await read('a,b\n1,2,3\n4\n5,6\n');
    expect(r.records).toEqual([
      { line: 2, raw: '1,2,3', error: 'has 3 fields, the header has 2' },
      { line: 3, raw: '4', error: 'has 1 fields, the header has 2' },
      { line: 4, raw: '5,6', fields: { a: '5', b: '6' } },
    ]);
  });

  it('a whole gzipped file reads the same', async () => {
    const r = await read(gzipSync('a,b\r\n1,"x\r\ny"\r\n\r\n2,3\r\n'), { name: 'in.csv.gz' });
    expect(r.records.map((x) => [x.line, x.raw])).toEqual([
      [2, '1,"x\r\ny"'],
      [5, '2,3'],
    ]);
  });

  it('line numbers stay right across read blocks (a file bigger than 1 MiB)', async () => {
    const rows = ['a,b'];
    for (let i = 0; i < 40_000; i++) rows.push(i % 1000 === 0 ? `${i},"multi\nline ${'x'.repeat(20)}"` : `${i},${'y'.repeat(20)}`);
    const r = await read(rows.join('\n') + '\n');
    expect(r.records.length).toBe(40_000);
    // record i starts on line 2 + i + (number of multi-line records before it)
    for (const i of [0, 1, 999, 1000, 1001, 20_000, 39_999]) {
      const rec = r.records[i]!;
      expect(rec.fields?.a).toBe(String(i));
      expect(rec.line, `record ${i}`).toBe(2 + i + Math.ceil(i / 1000));
    }
  });
});

describe('CSV header', { timeout: 30_000 }, () => {
  it('column names match case-insensitively, extra columns are counted', async () => {
    const r = await read('A,  B ,Extra,more\n1,2,3,4\n');
    expect(r.records[0]!.fields).toEqual({ a: '1', b: '2' });
    expect(r.extra).toEqual(['extra', 'more']);
  });

  it('--map reads a field from another column', async () => {
    const r = await read('Stamp,b\n1,2\n', { map: { a: 'stamp' } });
    expect(r.records[0]!.fields).toEqual({ a: '1', b: '2' });
    expect(r.extra).toEqual([]);
  });

  it('missing required columns fail the file, naming them and the header', async () => {
    expect(await readError('x,y\n1,2\n', { name: 'ev.csv', fields: EVENT_FIELDS, required: EVENT_REQUIRED })).toMatch(
      /ev\.csv: line 1: missing required column\(s\) user_id, event_type, occurred_at; the header has: x, y/,
    );
    // A mapped column the header lacks is a mistake in the mapping (64), named with a suggestion.
    expect(await readError('b\n1\n', { name: 'm.csv', map: { a: 'Stamp' } })).toMatch(/m\.csv: --map a=Stamp: the header has no column "stamp"; the header has: b$/);
    expect(await readError('b,tz\n1,x\n', { name: 'm.csv', fields: ['b', 'timezone'], required: ['b'], map: { timezone: 'tzz' } })).toMatch(/--map timezone=tzz: the header has no column "tzz"; did you mean "tz"\?; the header has: b, tz$/);
  });

  it('a field column given twice fails the file; a repeated extra column does not', async () => {
    expect(await readError('a,b,A\n1,2,3\n', { name: 'dup.csv' })).toMatch(/dup\.csv: line 1: column\(s\) a appear more than once in the header/);
    expect((await read('a,b,x,x\n1,2,3,4\n')).records[0]!.fields).toEqual({ a: '1', b: '2' });
  });

  it('a header with no rows is fine; an empty file is not', async () => {
    expect((await read('a,b\n')).records).toEqual([]);
    expect(await readError('', { name: 'empty.csv' })).toMatch(/empty\.csv: empty file/);
    expect(await readError(gzipSync(''), { name: 'empty.csv.gz' })).toMatch(/empty\.csv\.gz: empty file/);
  });
});

describe('CSV problems', { timeout: 30_000 }, () => {
  it('a quote inside an unquoted field is taken as written', async () => {
    const r = await read('a,b\n1,x"y\n2,"4"x\n3,5" tall\n');
    expect(r.records.map((x) => [x.line, x.fields?.b])).toEqual([
      [2, 'x"y'],
      [3, '"4"x'],
      [4, '5" tall'],
    ]);
  });

  it('an unclosed quote fails the file, naming it and the line', async () => {
    const msg = await readError('a,b\n1,2\n3,"open\n4,5\n', { name: 'open.csv' });
    expect(msg).toMatch(/open\.csv: line \d+: Quote Not Closed: .*; fix the quoting and ingest again$/);
  });

  it('an unclosed quote early in a big file fails once the record passes 16 MiB (bounded memory), without hanging', async () => {
    const row = `1,${'z'.repeat(100)}\n`;
    const big = 'a,b\n1,2\n3,"open\n' + row.repeat(Math.ceil((18 << 20) / row.length));
    const msg = await readError(big, { name: 'big-open.csv' });
    expect(msg).toMatch(/big-open\.csv: line \d+: Max Record Size/);
  }, 30_000);

  it('invalid UTF-8 rejects the record that holds it, on its line', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,ok\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n3,\u20ac\n4,"x\ny'), Buffer.from([0xff]), Buffer.from('"\n5,z\n')]);
    const r = await read(bytes, { name: 'latin1.csv' });
    expect(r.records).toEqual([
      { line: 2, raw: '1,ok', fields: { a: '1', b: 'ok' } },
      { line: 3, raw: '2,caf\uFFFD', error: 'b: contains bytes that are not valid UTF-8; re-export the file as UTF-8' },
      { line: 4, raw: '3,\u20ac', fields: { a: '3', b: '\u20ac' } },
      { line: 5, raw: '4,"x\ny\uFFFD"', error: 'b: contains bytes that are not valid UTF-8; re-export the file as UTF-8' },
      { line: 7, raw: '5,z', fields: { a: '5', b: 'z' } },
    ]);
  });

  it('a multi-byte character cut off at the end of the file', async () => {
    const r = await read(Buffer.concat([Buffer.from('a,b\n1,x\n2,\u20ac'), Buffer.from([0xe2, 0x82])]));
    expect(r.records.map((x) => [x.line, x.error ?? 'ok'])).toEqual([
      [2, 'ok'],
      [3, 'b: contains bytes that are not valid UTF-8; re-export the file as UTF-8'],
    ]);
  });

  it('multi-byte characters split across read blocks are not taken for invalid UTF-8', async () => {
    const rows = ['a,b'];
    for (let i = 0; i < 30_000; i++) rows.push(`${i},\u20ac\u00e9\u{1F600}${'\u00fc'.repeat(i % 7)}`);
    const r = await read(rows.join('\n'));
    expect(r.records.length).toBe(30_000);
    expect(r.records.filter((x) => x.error)).toEqual([]);
  });

  it('a binary file and a UTF-16 file fail with a clear message', async () => {
    expect(await readError(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1, 2, 3]), { name: 'bin.csv' })).toMatch(/bin\.csv: looks like a binary file/);
    expect(await readError(Buffer.from('\uFEFFa,b\n1,2\n', 'utf16le'), { name: 'u16.csv' })).toMatch(/u16\.csv: is UTF-16 text/);
  });

  it('a truncated gzip fails the file', async () => {
    const rows = ['a,b'];
    for (let i = 0; i < 50_000; i++) rows.push(`${i},${(i * 7919) % 10007}`);
    const gz = gzipSync(rows.join('\n'));
    expect(await readError(gz.subarray(0, gz.length >> 1), { name: 't.csv.gz' })).toMatch(/t\.csv\.gz: corrupt or truncated gzip data/);
  });
});

describe('TSV records', { timeout: 30_000 }, () => {
  it('tab-separated, with RFC 4180 quoting (tabs and newlines in quotes)', async () => {
    const r = await read('a\tb\n1\t"x\ty"\n2\t"p\nq"\n3\tplain\n', { name: 'in.tsv' });
    expect(r.records.map((x) => [x.line, x.fields])).toEqual([
      [2, { a: '1', b: 'x\ty' }],
      [3, { a: '2', b: 'p\nq' }],
      [5, { a: '3', b: 'plain' }],
    ]);
  });

  it('a quote inside an unquoted TSV field is kept as written', async () => {
    const r = await read('a\tb\n1\t5" tall\n2\t{"k":1}\n', { name: 'in.tsv' });
    expect(r.records.map((x) => x.fields)).toEqual([
      { a: '1', b: '5" tall' },
      { a: '2', b: '{"k":1}' },
    ]);
  });
});

describe('NDJSON records', { timeout: 30_000 }, () => {
  const nd = { name: 'in.ndjson' };

  it('a line with only whitespace is a bad record; a BOM is dropped only at the start of the file', async () => {
    const r = await read('{"a":1}\n  \t\n\uFEFF{"a":2}\n{"a":3}\n', nd);
    expect(r.records.map((x) => [x.line, x.error ?? x.fields])).toEqual([
      [1, { a: 1 }],
      [2, 'has only whitespace; expected a JSON object'],
      [3, expect.stringMatching(/^invalid JSON/)],
      [4, { a: 3 }],
    ]);
  });

  it('a file with no records (blank lines, a BOM) is empty', async () => {
    expect(await readError('\n\r\n\n', { name: 'blank.ndjson' })).toMatch(/blank\.ndjson: empty file \(only blank lines\)/);
    expect(await readError('\uFEFF', { name: 'bom.ndjson' })).toMatch(/bom\.ndjson: empty file/);
    expect(await readError('', { name: 'zero.ndjson' })).toBe(`${dir}/${fileNo}-zero.ndjson: empty file; an NDJSON export needs at least one record`);
  });

  it('one object per line; blank lines skipped but counted; CRLF; BOM', async () => {
    const r = await read('\uFEFF{"a":1,"b":"x"}\r\n\r\n{"a":2}\n\n\n{"A":3,"B":4,"c":5}', nd);
    expect(r.records).toEqual([
      { line: 1, raw: '{"a":1,"b":"x"}', fields: { a: 1, b: 'x' } },
      { line: 3, raw: '{"a":2}', fields: { a: 2 } },
      { line: 6, raw: '{"A":3,"B":4,"c":5}', fields: { a: 3, b: 4 } },
    ]);
    expect(r.extra).toEqual(['c']);
  });

  it('.jsonl and gzip', async () => {
    expect(lines(await read('{"a":1}\n{"a":2}\n', { name: 'in.jsonl' }))).toEqual([1, 2]);
    expect(lines(await read(gzipSync('{"a":1}\n\n{"a":2}\n'), { name: 'in.ndjson.gz' }))).toEqual([1, 3]);
  });

  it('a bad line is an error for that line only', async () => {
    const r = await read(Buffer.concat([Buffer.from('{"a":1}\n{"a":\n[1,2]\n"s"\n7\nnull\n{"a":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n{"a":9}\n')]), nd);
    expect(r.records.map((x) => [x.line, x.error ?? x.fields])).toEqual([
      [1, { a: 1 }],
      [2, expect.stringMatching(/^invalid JSON \(/)],
      [3, 'expected a JSON object, got an array'],
      [4, 'expected a JSON object, got a string'],
      [5, 'expected a JSON object, got 7'],
      [6, 'expected a JSON object, got null'],
      [7, 'is not valid UTF-8'],
      [8, { a: 9 }],
    ]);
  });

  it('--map and case-insensitive keys', async () => {
    const r = await read('{"Stamp":1,"B":2}\n', { ...nd, map: { a: 'stamp' } });
    expect(r.records[0]!.fields).toEqual({ a: 1, b: 2 });
  });
});

describe('streaming', { timeout: 30_000 }, () => {
  /** Reads the first `take` records of a big file and returns how many bytes had been read from disk by then. */
  async function bytesReadFor(content: Buffer, name: string, take: number): Promise<{ bytes: number; got: number }> {
    const path = join(dir, `${++fileNo}-${name}`);
    writeFileSync(path, content);
    const src = await openSource(path, undefined, Readable.from([]));
    let bytes = 0;
    const stream = readRecords(src, { mapping: namesMapping(['a', 'b']), required: ['a'], limits: DEFAULT_LIMITS }, (n) => (bytes += n));
    let got = 0;
    outer: for await (const batch of stream.batches) {
      for (const r of batch) {
        expect(r.error).toBeUndefined();
        if (++got === take) break outer; // stopping early must end the read cleanly (no hang)
      }
    }
    return { bytes, got };
  }

  it('does not read a 16 MB file ahead of the records it hands out (CSV, NDJSON)', async () => {
    const n = 350_000;
    const csv = Buffer.from('a,b\n' + Array.from({ length: n }, (_, i) => `${i},${'x'.repeat(40)}`).join('\n'));
    const nd = Buffer.from(Array.from({ length: n }, (_, i) => `{"a":${i},"b":"${'x'.repeat(32)}"}`).join('\n'));
    expect(csv.length).toBeGreaterThan(15 << 20);
    for (const [content, name] of [
      [csv, 'big.csv'],
      [nd, 'big.ndjson'],
    ] as const) {
      const r = await bytesReadFor(content, name, 1000);
      expect(r.got, name).toBe(1000);
      expect(r.bytes, name).toBeLessThan(content.length / 4);
    }
  }, 30_000);
});
