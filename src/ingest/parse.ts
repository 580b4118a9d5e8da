/** Reading a file's records and validating every one, in chunks, without the database. */
import { RewardsError, type ExitCode } from '../errors.js';
import type { BatchKind, EventRow, FieldProblemRow, MemberRow, RejectRow } from '../store/ingest.js';
import { eventInput, toEventRow } from './event-schema.js';
import { EVENT_REQUIRED, MEMBER_REQUIRED } from './field-names.js';
import { describeMapping, type Mapping } from './mapping.js';
import { describeIssues } from './fields.js';
import type { InputLimits } from '../config/limits.js';
import { cutRaw, jsonDepthExceeds } from './limits.js';
import { readMember } from './member-schema.js';
import { readRecords, type RecordStream } from './records.js';
import type { SourceFile } from './source.js';
import { CHUNK_CHARS } from '../tuning.js';

/** What parsing a file needs: plain data, so that it can be handed to a worker thread as it is. */
export interface ParseOptions {
  kind: BatchKind;
  /** Where each field is read from: built-in names, a source, --map (mapping.ts). */
  mapping: Mapping;
  /** Zone for `Z` timestamps without a timezone column. */
  defaultZone: string;
  /** Records already committed by an interrupted load of the same file: read past, not validated. */
  skip: number;
  /** Rows and rejects per chunk. */
  chunkSize: number;
  limits: InputLimits;
}

/** A file ended, normally or not: what the store must know once the last rows are committed. */
export interface ParseEnd {
  /** Columns (or NDJSON keys) present and ignored (at most MAX_EXTRA_COLUMNS of them). */
  extraColumns: string[];
  /** More columns were ignored than extraColumns names. */
  extraColumnsMore: boolean;
  /** The mapping applied, field -> column or path, for the batch report. */
  mapping: Record<string, string>;
  /** Mapped paths that no record had, and the like: reported, not fatal. */
  warnings: string[];
  /** A problem that stopped reading (bad quoting, corrupt gzip, missing columns): rows before it are kept. */
  error?: { message: string; exitCode: ExitCode };
}

/** Validated rows and rejected records, in file order. */
export interface ParsedChunk {
  rows: (EventRow | MemberRow)[];
  rejects: RejectRow[];
  /** Member fields stored empty because they were invalid. */
  problems: FieldProblemRow[];
  /** Records read from the start of the file up to the end of this chunk, skipped ones included: the resume point. */
  records: number;
  /** Bytes read from disk so far (progress). */
  bytes: number;
  /** Set on the last chunk. */
  end?: ParseEnd;
}


const REQUIRED = { events: EVENT_REQUIRED, members: MEMBER_REQUIRED } as const;

/**
 * Reads a file and validates every record (zod), in chunks. Pure of the database: the caller stores
 * the rows, so this can run on a worker thread while the main thread writes (see parse-worker.ts).
 * A RewardsError ends the stream with a last chunk carrying it, after the rows read before it.
 */
export async function* parseChunks(src: SourceFile, o: ParseOptions): AsyncGenerator<ParsedChunk> {
  let bytes = 0;
  const stream = readRecords(src, { mapping: o.mapping, required: REQUIRED[o.kind], limits: o.limits }, (n) => (bytes += n));
  const EventInput = eventInput({ unit: o.mapping.time_unit, naiveZone: o.mapping.naive_zone });
  let rows: (EventRow | MemberRow)[] = [];
  let rejects: RejectRow[] = [];
  let problems: FieldProblemRow[] = [];
  let n = 0;
  let chars = 0;
  const take = (end?: ParseEnd): ParsedChunk => {
    const c = { rows, rejects, problems, records: n, bytes, end };
    rows = [];
    rejects = [];
    problems = [];
    chars = 0;
    return c;
  };
  let entry: string | undefined;
  const reject = (line: number, raw: string, reason: string) =>
    rejects.push({ line, raw: cutRaw(raw), reason: `${entry !== undefined ? `zip entry ${JSON.stringify(entry)}: ` : ''}line ${line}: ${reason}` });
  try {
    for await (const batch of stream.batches) {
      for (const rec of batch) {
        n++;
        if (n <= o.skip) continue;
        entry = rec.entry;
        try {
          if (rec.error || !rec.fields) reject(rec.line, rec.raw, rec.error ?? 'unreadable record');
          else if (o.kind === 'events') {
            const parsed = EventInput.safeParse(rec.fields);
            if (!parsed.success) reject(rec.line, rec.raw, describeIssues(parsed.error));
            else {
              const problem = propertiesProblem(parsed.data.properties, o.limits);
              if (problem) reject(rec.line, rec.raw, problem);
              else {
                const row = toEventRow(parsed.data, rec.line, rec.raw, o.defaultZone);
                if (row.properties !== null && Buffer.byteLength(row.properties) > o.limits.properties_bytes) {
                  reject(rec.line, rec.raw, `properties: ${Buffer.byteLength(row.properties)} bytes, more than the limit of ${o.limits.properties_bytes} (--max-properties-bytes)`);
                } else rows.push(row);
              }
            }
          } else {
            const m = readMember(rec.fields, rec.line);
            if ('error' in m) reject(rec.line, rec.raw, m.error);
            else {
              rows.push(m.row);
              problems.push(...m.problems);
            }
          }
        } catch (err) {
          // No record, whatever its shape, may stop the load: what could not be read is rejected.
          if (err instanceof RewardsError) throw err;
          reject(rec.line, rec.raw, `could not be read (${(err as Error).message})`);
        }
        chars += rec.raw.length;
        // By size too: a chunk crosses to the writer as one string, and rows can be large.
        if (rows.length + rejects.length >= o.chunkSize || chars >= CHUNK_CHARS) yield take();
      }
    }
  } catch (err) {
    if (!(err instanceof RewardsError)) throw err;
    yield take({ ...endOf(src, o, stream), error: { message: err.message, exitCode: err.exitCode } });
    return;
  }
  yield take(endOf(src, o, stream));
}

function endOf(src: SourceFile, o: ParseOptions, s: RecordStream): Omit<ParseEnd, 'error'> {
  return {
    extraColumns: [...s.extraColumns.names].sort(),
    extraColumnsMore: s.extraColumns.more,
    mapping: describeMapping(o.mapping),
    warnings: s.seen.warnings(src.path, s.extraColumns.names),
  };
}

/** Why an event's properties are refused before they are stored, or null. */
function propertiesProblem(props: Record<string, unknown> | null, limits: InputLimits): string | null {
  if (props === null) return null;
  if (jsonDepthExceeds(props, limits.json_depth)) return `properties: nested deeper than the limit of ${limits.json_depth} levels (--max-json-depth)`;
  return null;
}
