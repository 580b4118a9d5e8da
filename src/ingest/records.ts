/** An input file as records: CSV/TSV (RFC 4180) and NDJSON, with line numbers, limits and bad bytes handled. */
import { isUtf8 } from 'node:buffer';
import { DataError, UsageError } from '../errors.js';
import { CsvReader, type CsvRow, CsvSyntaxError } from './csv.js';
import type { InputLimits } from '../config/limits.js';
import { MAX_EXTRA_COLUMNS } from './limits.js';
import { askedBy, extract, type Mapping, PathsSeen, topLevelNames } from './mapping.js';
import { type Format, formatFromName, readBytes, type SourceFile } from './source.js';
import { closest } from '../util/suggest.js';
import { zipEntries } from './zip.js';

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
  /** The zip entry the record is in. */
  entry?: string;
}

export interface FieldSpec {
  /** Which column or JSON path each field is read from (mapping.ts). */
  mapping: Mapping;
  required: readonly string[];
  limits: InputLimits;
}

export interface RecordStream {
  /**
   * Records in file order, a block of the file's records at a time: a yield per record through
   * async generators cost more than reading the record did.
   */
  batches: AsyncGenerator<InputRecord[]>;
  /** Names of columns (or NDJSON keys) present and ignored; filled as the file is read. */
  extraColumns: ExtraColumns;
  /** How often each mapped JSON path was found; filled as the file is read. */
  seen: PathsSeen;
}

/**
 * The ignored columns of a file, for its report: at most MAX_EXTRA_COLUMNS names are kept, so that
 * an NDJSON file with new keys on every line cannot fill memory (or the report) with their names.
 */
export class ExtraColumns {
  readonly names = new Set<string>();
  /** More names were seen than are kept. */
  more = false;

  add(name: string): void {
    if (this.names.has(name)) return;
    if (this.names.size < MAX_EXTRA_COLUMNS) this.names.add(name);
    else this.more = true;
  }
}

/** Beyond this a "line" is not a record at all (often a binary or a one-line JSON array): the file fails. */
const MAX_LINE_BYTES = 16 << 20;

/** Why a record is too long to keep, or null. */
function tooLong(raw: string, limit: number): string | null {
  if (raw.length <= limit / 3) return null; // at most 3 bytes per UTF-16 unit
  const bytes = Buffer.byteLength(raw);
  return bytes > limit ? `is ${bytes} bytes long, more than the limit of ${limit} (--max-record-bytes)` : null;
}

export function readRecords(src: SourceFile, spec: FieldSpec, onBytes: (n: number) => void): RecordStream {
  const extraColumns = new ExtraColumns();
  const seen = new PathsSeen(spec.mapping);
  const records = (label: string, format: Format, bytes: AsyncIterable<Buffer>) =>
    format === 'ndjson' ? ndjsonRecords(label, bytes, spec, extraColumns, seen) : csvRecords(label, format, bytes, spec, extraColumns);
  const batches = src.zip ? zipRecords(src, spec, onBytes, records) : records(src.path, src.format!, readBytes(src, onBytes, spec.limits.gzip_ratio));
  return { batches, extraColumns, seen };
}

/** The records of every entry of a zip, in order, each marked with its entry. */
async function* zipRecords(
  src: SourceFile,
  spec: FieldSpec,
  onBytes: (n: number) => void,
  records: (label: string, format: Format, bytes: AsyncIterable<Buffer>) => AsyncGenerator<InputRecord[]>,
): AsyncGenerator<InputRecord[]> {
  const formatOf = (name: string, label: string): Format => {
    const f = src.format ?? formatFromName(name);
    if (!f) throw new UsageError(`${label}: cannot tell the format of this zip entry from its name; pass --format or --source`);
    return f;
  };
  for await (const entry of zipEntries(src, spec.limits.gzip_ratio, onBytes, formatOf)) {
    for await (const batch of records(entry.label, entry.format, entry.bytes)) {
      for (const r of batch) r.entry = entry.name;
      yield batch;
    }
  }
}

/**
 * Stands in for bytes that are not valid UTF-8, so that the CSV record holding them can be rejected
 * (with the line it starts on) instead of failing the whole file. A noncharacter: never in real text,
 * and only looked for once the file has shown a bad byte.
 */
const BAD_BYTE = '\uFDD0';

/** Length of a trailing UTF-8 sequence cut short at the end of `b` (0 when the block ends cleanly). */
function incompleteTail(b: Buffer): number {
  for (let i = b.length - 1; i >= 0 && i >= b.length - 3; i--) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    if (c < 0xc0) return 0; // ASCII
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return b.length - i < need ? b.length - i : 0;
  }
  return 0;
}

/** Decodes a block that holds invalid UTF-8: each bad line gets BAD_BYTE where its bad bytes were. */
function decodeLenient(b: Buffer): string {
  let out = '';
  let start = 0;
  while (start < b.length) {
    const nl = b.indexOf(10, start);
    const end = nl < 0 ? b.length : nl + 1;
    const line = b.subarray(start, end);
    out += isUtf8(line) ? line.toString('utf8') : line.toString('utf8').replaceAll('\uFFFD', BAD_BYTE);
    start = end;
  }
  return out;
}

/**
 * Decodes UTF-8 as text for the CSV parser. Valid blocks (the normal case) are decoded as they are;
 * invalid bytes are marked with BAD_BYTE (see above) and `state.invalid` is set, never silently
 * turned into U+FFFD. A BOM is left for the CSV reader to drop.
 */
async function* utf8(bytes: AsyncIterable<Buffer>, state: { invalid: boolean }): AsyncGenerator<string> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of bytes) {
    const b = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const cut = b.length - incompleteTail(b);
    carry = Buffer.from(b.subarray(cut));
    const whole = b.subarray(0, cut);
    if (isUtf8(whole)) yield whole.toString('utf8');
    else {
      state.invalid = true;
      yield decodeLenient(whole);
    }
  }
  if (carry.length) {
    // A multi-byte character cut short by the end of the file.
    state.invalid = true;
    yield BAD_BYTE;
  }
}

async function* csvRecords(
  label: string,
  format: Format,
  bytes: AsyncIterable<Buffer>,
  spec: FieldSpec,
  extra: ExtraColumns,
): AsyncGenerator<InputRecord[]> {
  // Bounded memory: an unclosed quote must not buffer the rest of a big file as one field.
  const reader = new CsvReader(format === 'tsv' ? '\t' : ',', Math.max(MAX_LINE_BYTES, spec.limits.record_bytes));
  const decoding = { invalid: false };
  let index: Map<string, number> | null = null;
  let width = 0;
  let header: string[] = [];
  let columns: [string, number | undefined][] = [];
  /** The columns that make properties (`"properties": "*"`): every one not mapped, with a value. */
  let rest: (readonly [string, number])[] | null = null;

  function handle(rows: CsvRow[]): InputRecord[] {
    const out: InputRecord[] = [];
    for (const rec of rows) {
      const { line, raw } = rec;
      if (!index) {
        if (decoding.invalid && raw.includes(BAD_BYTE)) {
          throw new DataError(`${label}: line 1: the header is not valid UTF-8; re-export the file as UTF-8`);
        }
        header = rec.fields.map((h) => h.trim().toLowerCase());
        index = new Map(header.map((h, i) => [h, i]));
        const m = spec.mapping;
        if (m.params || (m.rest && m.rest.under.length)) {
          throw new UsageError(`${label}: source ${m.source} reads nested JSON (${m.params?.from ?? m.rest!.from}), which a ${format.toUpperCase()} file cannot hold; use it on NDJSON files`);
        }
        const used = new Set<string>();
        columns = [];
        for (const f of m.fields) {
          const names = f.from.map((c) => c.trim().toLowerCase());
          const at = names.find((c) => index!.has(c));
          if (at === undefined) {
            // A column asked for by name that the header lacks is a mistake in the mapping: stop before any row is read.
            if (f.given !== 'default') {
              const near = closest(names[0]!, header);
              throw new UsageError(
                `${label}: ${askedBy(m, f, f.from.join(' | '))}: the header has no column ${names.map((c) => JSON.stringify(c)).join(' or ')}` +
                  `${near ? `; did you mean "${near}"?` : ''}; the header has: ${header.join(', ') || '(nothing)'}`,
              );
            }
            continue;
          }
          used.add(at);
          columns.push([f.field, index.get(at)]);
        }
        const missing = spec.required.filter((f) => !columns.some(([c]) => c === f));
        if (missing.length > 0) {
          throw new DataError(
            `${label}: line ${line}: missing required column(s) ${missing.join(', ')}; the header has: ${header.join(', ') || '(nothing)'}; ` +
              `use --map FIELD=COLUMN (or --source) if the export names them differently`,
          );
        }
        const twice = [...used].filter((c) => header.indexOf(c) !== header.lastIndexOf(c));
        if (twice.length > 0) {
          throw new DataError(`${label}: line ${line}: column(s) ${twice.join(', ')} appear more than once in the header (names are matched case-insensitively); which one to read is unclear`);
        }
        rest = m.rest ? header.map((h, i) => [h, i] as const).filter(([h]) => !used.has(h)) : null;
        if (!rest) for (const h of header) if (!used.has(h)) extra.add(h);
        width = header.length;
        continue;
      }
      if (decoding.invalid && raw.includes(BAD_BYTE)) {
        const col = rec.fields.findIndex((v) => v.includes(BAD_BYTE));
        const where = col >= 0 && header[col] ? `${header[col]}: ` : '';
        out.push({ line, raw: raw.replaceAll(BAD_BYTE, '\uFFFD'), error: `${where}contains bytes that are not valid UTF-8; re-export the file as UTF-8` });
        continue;
      }
      const long = tooLong(raw, spec.limits.record_bytes);
      if (long) {
        out.push({ line, raw, error: long });
        continue;
      }
      if (rec.fields.length !== width) {
        out.push({ line, raw, error: `has ${rec.fields.length} fields, the header has ${width}` });
        continue;
      }
      const fields: Record<string, unknown> = {};
      for (const [f, i] of columns) if (i !== undefined) fields[f] = rec.fields[i];
      if (rest) {
        const props: Record<string, string> = {};
        for (const [h, i] of rest) if (rec.fields[i] !== '') props[h] = rec.fields[i]!;
        fields.properties = props;
      }
      out.push({ line, raw, fields });
    }
    return out;
  }

  try {
    for await (const text of utf8(bytes, decoding)) yield handle(reader.push(text));
    yield handle(reader.end());
  } catch (err) {
    if (err instanceof CsvSyntaxError) {
      throw new DataError(`${label}: line ${err.line}: ${err.message}; fix the quoting and ingest again`);
    }
    throw err;
  }
  if (!index) throw new DataError(`${label}: empty file; an export with no rows still needs its header line`);
}

async function* ndjsonRecords(label: string, bytes: AsyncIterable<Buffer>, spec: FieldSpec, extra: ExtraColumns, seen: PathsSeen): AsyncGenerator<InputRecord[]> {
  // ignoreBOM: a BOM is dropped from the first line only (below), not from the start of every line.
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let records = 0;
  const m = spec.mapping;
  const known = topLevelNames(m);
  // With "properties": "*", every key is read: none is extra.
  const keepsAll = m.rest !== null && m.rest.under.length === 0;
  let line = 0;
  let carry: Buffer = Buffer.alloc(0);
  let first = true;

  /**
   * The records of a block. A block of valid UTF-8 (the normal case) is decoded once and split into
   * lines as text; a block with a bad byte is decoded line by line, so that only the bad line is
   * rejected.
   */
  function lines(buf: Buffer, final: boolean): InputRecord[] {
    const cut = final ? buf.length : buf.lastIndexOf(10) + 1;
    if (!isUtf8(buf.subarray(0, cut))) return linesOneByOne(buf, final);
    const out: InputRecord[] = [];
    const text = buf.toString('utf8', 0, cut);
    let start = 0;
    while (start < text.length) {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl;
      let t = text.slice(start, text.charCodeAt(end - 1) === 13 && end > start ? end - 1 : end);
      if (first && t.charCodeAt(0) === 0xfeff) t = t.slice(1);
      first = false;
      line++;
      const rec = parseText(t, line);
      if (rec) {
        records++;
        out.push(rec);
      }
      if (nl < 0) break;
      start = nl + 1;
    }
    carry = buf.subarray(cut);
    if (carry.length > Math.max(MAX_LINE_BYTES, spec.limits.record_bytes)) {
      throw new DataError(`${label}: line ${line + 1} is longer than ${MAX_LINE_BYTES >> 20} MiB; NDJSON needs one JSON object per line`);
    }
    return out;
  }

  function linesOneByOne(buf: Buffer, final: boolean): InputRecord[] {
    const out: InputRecord[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0 && !final) {
        carry = buf.subarray(start);
        // Bounded memory: a "line" this long is not an NDJSON record (often a binary or one-line JSON array).
        if (carry.length > Math.max(MAX_LINE_BYTES, spec.limits.record_bytes)) {
          throw new DataError(`${label}: line ${line + 1} is longer than ${MAX_LINE_BYTES >> 20} MiB; NDJSON needs one JSON object per line`);
        }
        return out;
      }
      const end = nl < 0 ? buf.length : nl;
      let bytesOfLine = buf.subarray(start, end);
      if (bytesOfLine[bytesOfLine.length - 1] === 13) bytesOfLine = bytesOfLine.subarray(0, -1);
      if (first && bytesOfLine[0] === 0xef && bytesOfLine[1] === 0xbb && bytesOfLine[2] === 0xbf) bytesOfLine = bytesOfLine.subarray(3);
      first = false;
      line++;
      if (nl < 0 && bytesOfLine.length === 0) return out;
      const rec = parseLine(bytesOfLine, line);
      if (rec) {
        records++;
        out.push(rec);
      }
      if (nl < 0) return out;
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
    return parseText(text, ln);
  }

  function parseText(text: string, ln: number): InputRecord | null {
    // An empty line is skipped; one with only spaces or tabs is a record that is not JSON (as in CSV).
    if (text === '') return null;
    const long = tooLong(text, spec.limits.record_bytes);
    if (long) return { line: ln, raw: text, error: long };
    if (text.trim() === '') return { line: ln, raw: text, error: 'has only whitespace; expected a JSON object' };
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
    seen.records++;
    const { fields, error } = extract(m, obj, seen);
    if (!keepsAll) for (const k in obj) if (!known.has(k) && !known.has(k.toLowerCase())) extra.add(k);
    return error ? { line: ln, raw: text, error } : { line: ln, raw: text, fields };
  }

  for await (const chunk of bytes) {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    carry = Buffer.alloc(0);
    yield lines(buf, false);
  }
  yield lines(carry, true);
  if (records === 0) throw new DataError(`${label}: empty file (only blank lines); an NDJSON export needs at least one record`);
}
