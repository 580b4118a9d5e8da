import { parse as parseCsv, type CsvError } from 'csv-parse';
import { DataError } from '../errors.js';
import { type Format, readBytes, type Source } from './source.js';

/** One record of an input file, before validation. */
export interface InputRecord {
  /** Line of the file where the record starts (1-based; the CSV header is line 1). */
  line: number;
  /** The record as written, for the rejects table. */
  raw: string;
  /** Canonical field name -> value; absent when the record could not be read at all. */
  fields?: Record<string, unknown>;
  /** Why the record could not be read (bad JSON, wrong field count, invalid UTF-8). */
  error?: string;
}

export interface FieldSpec {
  fields: readonly string[];
  required: readonly string[];
  /** --map FIELD=COLUMN */
  map: Record<string, string>;
}

export interface RecordStream {
  records: AsyncGenerator<InputRecord>;
  /** Names of columns (or NDJSON keys) present and ignored; filled as the file is read. */
  extraColumns: Set<string>;
}

const MAX_LINE_BYTES = 16 << 20;

export function readRecords(src: Source, spec: FieldSpec, onBytes: (n: number) => void): RecordStream {
  const extraColumns = new Set<string>();
  const bytes = readBytes(src, onBytes);
  const records = src.format === 'ndjson' ? ndjsonRecords(src, bytes, spec, extraColumns) : csvRecords(src, src.format, bytes, spec, extraColumns);
  return { records, extraColumns };
}

function columnFor(field: string, spec: FieldSpec): string {
  return (spec.map[field] ?? field).trim().toLowerCase();
}

/** Decodes UTF-8 strictly: a wrong byte is an error naming its position, never a silent U+FFFD. */
async function* utf8(src: Source, bytes: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  for await (const b of bytes) {
    try {
      yield dec.decode(b, { stream: true });
    } catch {
      throw new DataError(`${src.path}: invalid UTF-8 in the block starting at byte ${offset}; re-export the file as UTF-8`);
    }
    offset += b.length;
  }
  try {
    const rest = dec.decode();
    if (rest) yield rest;
  } catch {
    throw new DataError(`${src.path}: invalid UTF-8 at the end of the file; re-export the file as UTF-8`);
  }
}

/** Counts line breaks the way editors do: \n, \r\n and a lone \r each end one line. */
function lineBreaks(s: string): { total: number; leading: number } {
  let total = 0;
  let leading = 0;
  let seenText = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const isBreak = c === 10 || (c === 13 && s.charCodeAt(i + 1) !== 10);
    if (isBreak) {
      total++;
      if (!seenText) leading++;
    } else if (c !== 13) seenText = true;
  }
  return { total, leading };
}

async function* csvRecords(
  src: Source,
  format: Format,
  bytes: AsyncIterable<Buffer>,
  spec: FieldSpec,
  extra: Set<string>,
): AsyncGenerator<InputRecord> {
  const parser = parseCsv({
    delimiter: format === 'tsv' ? '\t' : ',',
    raw: true,
    relax_column_count: true,
    relax_quotes: format === 'tsv',
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n'],
    // TSV exports rarely quote; a stray quote must not swallow the rest of the file.
    quote: format === 'tsv' ? false : '"',
  });
  const feeding = (async () => {
    try {
      for await (const text of utf8(src, bytes)) {
        if (!parser.write(text)) await new Promise((r) => parser.once('drain', r));
      }
      parser.end();
    } catch (err) {
      parser.destroy(err as Error);
    }
  })();

  let nextLine = 1;
  let index: Map<string, number> | null = null;
  let width = 0;
  let header: string[] = [];
  try {
    for await (const rec of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const { total, leading } = lineBreaks(rec.raw);
      const line = nextLine + leading;
      nextLine += total;
      if (!index) {
        header = rec.record.map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, '') : h).trim().toLowerCase());
        index = new Map(header.map((h, i) => [h, i]));
        const missing = spec.required.filter((f) => !index!.has(columnFor(f, spec)));
        if (missing.length > 0) {
          const named = missing.map((f) => (spec.map[f] ? `${f} (mapped to column "${spec.map[f]}")` : f)).join(', ');
          throw new DataError(
            `${src.path}: line 1: missing required column(s) ${named}; the header has: ${header.join(', ') || '(nothing)'}; ` +
              `use --map FIELD=COLUMN if the export names them differently`,
          );
        }
        const used = new Set(spec.fields.map((f) => columnFor(f, spec)));
        for (const h of header) if (!used.has(h)) extra.add(h);
        width = header.length;
        continue;
      }
      const raw = rec.raw.replace(/^[\r\n]+/, '').replace(/\r?\n$/, '');
      if (rec.record.length !== width) {
        yield { line, raw, error: `has ${rec.record.length} fields, the header has ${width}` };
        continue;
      }
      const fields: Record<string, unknown> = {};
      for (const f of spec.fields) {
        const i = index.get(columnFor(f, spec));
        if (i !== undefined) fields[f] = rec.record[i];
      }
      yield { line, raw, fields };
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const ce = err as CsvError;
    if (ce.code && String(ce.code).startsWith('CSV_')) {
      throw new DataError(`${src.path}: line ${ce.lines ?? nextLine}: ${ce.message.replace(/^Invalid Record Length: /, '')}; fix the quoting and ingest again`);
    }
    throw err;
  } finally {
    parser.destroy();
    await feeding;
  }
  if (!index) throw new DataError(`${src.path}: empty file; an export with no rows still needs its header line`);
}

async function* ndjsonRecords(src: Source, bytes: AsyncIterable<Buffer>, spec: FieldSpec, extra: Set<string>): AsyncGenerator<InputRecord> {
  const dec = new TextDecoder('utf-8', { fatal: true });
  const wanted = spec.fields.map((f) => [f, columnFor(f, spec)] as const);
  const known = new Set(wanted.map(([, c]) => c));
  let line = 0;
  let carry: Buffer = Buffer.alloc(0);
  let first = true;

  function* lines(buf: Buffer, final: boolean): Generator<InputRecord> {
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0 && !final) {
        carry = buf.subarray(start);
        // Bounded memory: a "line" this long is not an NDJSON record (often a binary or one-line JSON array).
        if (carry.length > MAX_LINE_BYTES) {
          throw new DataError(`${src.path}: line ${line + 1} is longer than ${MAX_LINE_BYTES >> 20} MiB; NDJSON needs one JSON object per line`);
        }
        return;
      }
      const end = nl < 0 ? buf.length : nl;
      let bytesOfLine = buf.subarray(start, end);
      if (bytesOfLine[bytesOfLine.length - 1] === 13) bytesOfLine = bytesOfLine.subarray(0, -1);
      if (first && bytesOfLine[0] === 0xef && bytesOfLine[1] === 0xbb && bytesOfLine[2] === 0xbf) bytesOfLine = bytesOfLine.subarray(3);
      first = false;
      line++;
      if (nl < 0 && bytesOfLine.length === 0) return;
      const rec = parseLine(bytesOfLine, line);
      if (rec) yield rec;
      if (nl < 0) return;
      start = nl + 1;
    }
  }

  function parseLine(b: Buffer, ln: number): InputRecord | null {
    let text: string;
    try {
      text = dec.decode(b);
    } catch {
      return { line: ln, raw: b.toString('utf8'), error: 'is not valid UTF-8' };
    }
    if (text.trim() === '') return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { line: ln, raw: text, error: `invalid JSON (${(err as Error).message})` };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { line: ln, raw: text, error: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value === 'string' ? 'a string' : JSON.stringify(value)}` };
    }
    const obj = value as Record<string, unknown>;
    const fields: Record<string, unknown> = {};
    let lower: Map<string, string> | null = null;
    for (const [f, col] of wanted) {
      if (Object.hasOwn(obj, col)) fields[f] = obj[col];
      else {
        lower ??= new Map(Object.keys(obj).map((k) => [k.toLowerCase(), k]));
        const k = lower.get(col);
        if (k !== undefined) fields[f] = obj[k];
      }
    }
    for (const k of Object.keys(obj)) if (!known.has(k) && !known.has(k.toLowerCase())) extra.add(k);
    return { line: ln, raw: text, fields };
  }

  for await (const chunk of bytes) {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    carry = Buffer.alloc(0);
    yield* lines(buf, false);
  }
  yield* lines(carry, true);
}
