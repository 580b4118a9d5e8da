/** Ingest: each file a batch, its chunks stored in load windows, resumable, with its report. */
import type { Readable } from 'node:stream';
import { DataError, EXIT, RewardsError, type ExitCode } from '../errors.js';
import type { Db } from '../store/db.js';
import {
  type BatchKind,
  commitEventChunk,
  commitMemberChunk,
  beginBulk,
  commitBulk,
  rollbackBulk,
  useLoadCache,
  createBatch,
  type EventRow,
  findCompleteBatch,
  findResumableBatch,
  finishBatch,
  getBatch,
  type MemberRow,
  type RejectRow,
  reopenBatch,
} from '../store/ingest.js';
import { DEFAULT_LIMITS, type InputLimits } from '../config/limits.js';
import { parseFile } from './parallel-parse.js';
import type { ParseEnd } from './parse.js';
import { prunedBefore as prunedBeforeDate } from '../store/retention.js';
import { type Format, openSource, type Source } from './source.js';
import type { Mapping } from './mapping.js';
import { CHUNK_ROWS, COMMIT_EVERY } from '../tuning.js';
import { crashPoint } from '../util/crash-point.js';



export interface IngestOptions {
  kind: BatchKind;
  /** The records' format (--format, or the source's); default: from the file name. */
  format?: Format;
  /** Where each field is read from (mapping.ts): built-in names, a source, --map. */
  mapping: Mapping;
  maxRejectRate: number;
  force: boolean;
  /** Zone for `Z` timestamps without a timezone column (the config's, else UTC). */
  defaultZone: string;
  /** Records per sub-batch handed to the store (default CHUNK_ROWS). */
  chunkSize?: number;
  /** Records per transaction (and resume point). */
  commitEvery?: number;
  /** Parse on a worker thread: 'auto' does for files of a few MiB and more. */
  parallel?: boolean | 'auto';
  /** Input limits (default DEFAULT_LIMITS). */
  limits?: InputLimits;
  /** Refuse symbolic links (the nightly inbox, which other systems write to). */
  noFollow?: boolean;
  stdin: Readable;
  onProgress?: (p: Progress) => void;
  /** Called when a file starts, with its display path. */
  onFile?: (path: string, size: number) => void;
}

export interface Progress {
  path: string;
  rows: number;
  bytes: number;
  size: number;
}

export interface FileReport {
  path: string;
  sha256: string | null;
  status: 'ingested' | 'skipped' | 'failed';
  batch_id: number | null;
  rows: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  /** Member fields stored empty because they were invalid (not counted as rejected). */
  field_problems: number;
  extra_columns: string[];
  /** More columns were ignored than extra_columns names (see MAX_EXTRA_COLUMNS). */
  extra_columns_more: boolean;
  /** The source read with (null: the built-in field names), and field -> the column or path it was read from. */
  source: string | null;
  mapping: Record<string, string>;
  /** Problems that did not stop the file: a mapped path no record had. */
  warnings: string[];
  error: string | null;
  /** Exit code this file calls for (0 when fine). */
  exit: ExitCode;
}

export interface IngestReport {
  files: FileReport[];
  totals: { rows: number; inserted: number; duplicates: number; conflicts: number; rejected: number; field_problems: number };
  exit: ExitCode;
}

export async function ingestFiles(db: Db, paths: string[], opts: IngestOptions): Promise<IngestReport> {
  const files: FileReport[] = [];
  for (const path of paths) files.push(await ingestOne(db, path, opts));
  const totals = { rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, field_problems: 0 };
  for (const f of files) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += f[k];
  // A missing file is the more specific failure (66); any other bad file or too many rejects is 65.
  const codes = files.map((f) => f.exit);
  const exit: ExitCode = codes.includes(EXIT.NOINPUT) ? EXIT.NOINPUT : (codes.find((c) => c !== EXIT.OK) ?? EXIT.OK);
  return { files, totals, exit };
}

/**
 * Events dated before a prune are rejected: the event may have been stored and deleted, and the
 * rollup still counts it, so storing it again could count it twice.
 */
function keepUnpruned(rows: EventRow[], prunedBefore: string, rejects: RejectRow[]): EventRow[] {
  const kept: EventRow[] = [];
  for (const row of rows) {
    if (row.local_date >= prunedBefore) kept.push(row);
    else {
      rejects.push({
        line: row.line,
        raw: row.raw,
        reason: `line ${row.line}: occurred_at: local date ${row.local_date} is before ${prunedBefore}, the date events were pruned up to (retention); it cannot be counted any more`,
      });
    }
  }
  // Rejects are stored by line; keep them in file order.
  rejects.sort((a, b) => a.line - b.line);
  return kept;
}

function emptyReport(path: string, sha256: string | null): FileReport {
  return { path, sha256, status: 'failed', batch_id: null, rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, field_problems: 0, extra_columns: [], extra_columns_more: false, source: null, mapping: {}, warnings: [], error: null, exit: EXIT.OK };
}

async function ingestOne(db: Db, path: string, opts: IngestOptions): Promise<FileReport> {
  let src: Source;
  try {
    src = await openSource(path, opts.format ?? opts.mapping.format, opts.stdin, opts.noFollow ?? false);
  } catch (err) {
    if (!(err instanceof RewardsError)) throw err;
    return { ...emptyReport(path, null), error: err.message, exit: err.exitCode };
  }
  try {
    return await ingestSource(db, src, opts);
  } finally {
    await src.cleanup();
  }
}

async function ingestSource(db: Db, src: Source, opts: IngestOptions): Promise<FileReport> {
  const report = { ...emptyReport(src.path, src.sha256), source: opts.mapping.source };
  const format = src.zip ? 'zip' : src.format!;
  if (!opts.force) {
    const done = findCompleteBatch(db, src.sha256, opts.kind);
    if (done) {
      return { ...report, status: 'skipped', batch_id: done.batch_id };
    }
  }
  // Resume an interrupted load of the same bytes; --force starts a fresh batch (rows still dedup).
  const prior = opts.force ? undefined : findResumableBatch(db, src.sha256, opts.kind, format);
  let batch = prior;
  if (batch) reopenBatch(db, batch.batch_id, src.path);
  else batch = createBatch(db, { kind: opts.kind, path: src.path, name: src.name, sha256: src.sha256, size_bytes: src.size, format });
  report.batch_id = batch.batch_id;

  opts.onFile?.(src.path, src.size);
  const prunedBefore = opts.kind === 'events' ? prunedBeforeDate(db) : null;
  const chunks = parseFile(
    src,
    { kind: opts.kind, mapping: opts.mapping, defaultZone: opts.defaultZone, skip: batch.records_done, chunkSize: opts.chunkSize ?? CHUNK_ROWS, limits: opts.limits ?? DEFAULT_LIMITS },
    opts.parallel ?? 'auto',
  );
  // Chunks go to SQLite inside a transaction that is committed every `commitEvery` records with the
  // batch's resume point and the window's rollup: a crash loses at most one window, which the rerun
  // reads again.
  const commitEvery = opts.commitEvery ?? COMMIT_EVERY;
  let sinceCommit = 0;
  let end: ParseEnd | undefined;
  let records = batch.records_done;
  let bytes = 0;
  const restoreCache = useLoadCache(db);
  try {
    let window = beginBulk(db);
    for await (const c of chunks) {
      records = c.records;
      bytes = c.bytes;
      end = c.end;
      const rejects = c.rejects;
      // Counted before keepUnpruned moves rows to the rejects: each record once.
      sinceCommit += c.rows.length + c.rejects.length;
      if (opts.kind === 'events') {
        const rows = prunedBefore === null ? (c.rows as EventRow[]) : keepUnpruned(c.rows as EventRow[], prunedBefore, rejects);
        commitEventChunk(db, window, batch.batch_id, rows, rejects, records);
      } else {
        commitMemberChunk(db, window, batch.batch_id, c.rows as MemberRow[], rejects, c.problems, records);
      }
      crashPoint('ingest:chunk');
      if (sinceCommit >= commitEvery && !end) {
        commitBulk(db, window);
        crashPoint('ingest:window');
        window = beginBulk(db);
        sinceCommit = 0;
      }
      opts.onProgress?.({ path: src.path, rows: records, bytes, size: src.size });
    }
    commitBulk(db, window, { last: true });
  } catch (err) {
    rollbackBulk(db);
    throw err;
  } finally {
    restoreCache();
  }

  const failure = end?.error;
  const extra = end?.extraColumns ?? [];
  finishBatch(db, batch.batch_id, failure ? 'failed' : 'complete', failure?.message ?? null, extra.length);
  const b = getBatch(db, batch.batch_id)!;
  Object.assign(report, {
    rows: b.rows,
    inserted: b.inserted,
    duplicates: b.duplicates,
    conflicts: b.conflicts,
    rejected: b.rejected,
    field_problems: b.field_problems,
    extra_columns: extra,
    extra_columns_more: end?.extraColumnsMore ?? false,
    mapping: end?.mapping ?? {},
    warnings: end?.warnings ?? [],
  });
  if (failure) return { ...report, status: 'failed', error: failure.message, exit: failure.exitCode };

  report.status = 'ingested';
  if (b.rows > 0 && b.rejected / b.rows > opts.maxRejectRate) {
    const pct = ((100 * b.rejected) / b.rows).toFixed(1);
    const e = new DataError(
      `${src.path}: ${b.rejected} of ${b.rows} rows rejected (${pct}%), above the maximum reject rate ${opts.maxRejectRate}; ` +
        `the good rows were kept; see \`rewards rejects --batch ${b.batch_id}\``,
    );
    return { ...report, error: e.message, exit: e.exitCode };
  }
  return report;
}
