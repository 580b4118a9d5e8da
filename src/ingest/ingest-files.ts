import type { Readable } from 'node:stream';
import { DataError, EXIT, RewardsError, type ExitCode } from '../errors.js';
import type { Db } from '../store/db.js';
import {
  type BatchKind,
  type ChunkCounts,
  commitEventChunk,
  commitMemberChunk,
  beginBulk,
  commitBulk,
  rollbackBulk,
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
import { EVENT_FIELDS, EVENT_REQUIRED, EventInput, toEventRow } from './event-schema.js';
import { describeIssues } from './fields.js';
import { MEMBER_FIELDS, MEMBER_REQUIRED, MemberInput, toMemberRow } from './member-schema.js';
import { readRecords } from './records.js';
import { prunedBefore as prunedBeforeDate } from '../store/retention.js';
import { type Format, openSource, type Source } from './source.js';

export interface IngestOptions {
  kind: BatchKind;
  format?: Format;
  map: Record<string, string>;
  maxRejectRate: number;
  force: boolean;
  /** Zone for `Z` timestamps without a timezone column (the config's, else UTC). */
  defaultZone: string;
  /** Records per sub-batch handed to the store. */
  chunkSize?: number;
  /** Records per transaction (and resume point). */
  commitEvery?: number;
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
  extra_columns: string[];
  error: string | null;
  /** Exit code this file calls for (0 when fine). */
  exit: ExitCode;
}

export interface IngestReport {
  files: FileReport[];
  totals: { rows: number; inserted: number; duplicates: number; conflicts: number; rejected: number };
  exit: ExitCode;
}

const FIELD_SPECS = {
  events: { fields: EVENT_FIELDS, required: EVENT_REQUIRED, schema: EventInput },
  members: { fields: MEMBER_FIELDS, required: MEMBER_REQUIRED, schema: MemberInput },
} as const;

export async function ingestFiles(db: Db, paths: string[], opts: IngestOptions): Promise<IngestReport> {
  const files: FileReport[] = [];
  for (const path of paths) files.push(await ingestOne(db, path, opts));
  const totals = { rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
  for (const f of files) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += f[k];
  // A missing file is the more specific failure (66); any other bad file or too many rejects is 65.
  const codes = files.map((f) => f.exit);
  const exit: ExitCode = codes.includes(EXIT.NOINPUT) ? EXIT.NOINPUT : (codes.find((c) => c !== EXIT.OK) ?? EXIT.OK);
  return { files, totals, exit };
}

function emptyReport(path: string, sha256: string | null): FileReport {
  return { path, sha256, status: 'failed', batch_id: null, rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, extra_columns: [], error: null, exit: EXIT.OK };
}

async function ingestOne(db: Db, path: string, opts: IngestOptions): Promise<FileReport> {
  let src: Source;
  try {
    src = await openSource(path, opts.format, opts.stdin);
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
  const report = emptyReport(src.path, src.sha256);
  if (!opts.force) {
    const done = findCompleteBatch(db, src.sha256, opts.kind);
    if (done) {
      return { ...report, status: 'skipped', batch_id: done.batch_id };
    }
  }
  // Resume an interrupted load of the same bytes; --force starts a fresh batch (rows still dedup).
  const prior = opts.force ? undefined : findResumableBatch(db, src.sha256, opts.kind, src.format);
  let batch = prior;
  if (batch) reopenBatch(db, batch.batch_id, src.path);
  else batch = createBatch(db, { kind: opts.kind, path: src.path, name: src.name, sha256: src.sha256, size_bytes: src.size, format: src.format });
  report.batch_id = batch.batch_id;

  const spec = FIELD_SPECS[opts.kind];
  const chunkSize = opts.chunkSize ?? 2000;
  let bytes = 0;
  const stream = readRecords(src, { fields: spec.fields, required: spec.required, map: opts.map }, (n) => (bytes += n));
  opts.onFile?.(src.path, src.size);

  const prunedBefore = opts.kind === 'events' ? prunedBeforeDate(db) : null;
  let n = 0; // records read so far, including those skipped on resume
  const skip = batch.records_done;
  let rows: (EventRow | MemberRow)[] = [];
  let rejects: RejectRow[] = [];
  // Rows go to SQLite in small sub-batches (memory stays flat) inside a transaction that is committed
  // every `commitEvery` records with the batch's resume point: few commits, each page written once
  // for many rows, and a crash loses at most one window, which the rerun reads again.
  const commitEvery = opts.commitEvery ?? 50_000;
  let sinceCommit = 0;
  beginBulk(db);
  const flush = (commit: boolean) => {
    if (rows.length + rejects.length > 0 || commit) {
      if (opts.kind === 'events') commitEventChunk(db, batch.batch_id, rows as EventRow[], rejects, n);
      else commitMemberChunk(db, batch.batch_id, rows as MemberRow[], rejects, n);
    }
    sinceCommit += rows.length + rejects.length;
    rows = [];
    rejects = [];
    if (commit || sinceCommit >= commitEvery) {
      commitBulk(db);
      sinceCommit = 0;
      if (!commit) beginBulk(db);
    }
  };

  let failure: RewardsError | null = null;
  try {
    for await (const rec of stream.records) {
      n++;
      if (n <= skip) continue;
      if (rec.error || !rec.fields) {
        rejects.push({ line: rec.line, raw: rec.raw, reason: `line ${rec.line}: ${rec.error}` });
      } else {
        const parsed = spec.schema.safeParse(rec.fields);
        if (!parsed.success) {
          rejects.push({ line: rec.line, raw: rec.raw, reason: `line ${rec.line}: ${describeIssues(parsed.error)}` });
        } else if (opts.kind === 'events') {
          const row = toEventRow(parsed.data as EventInput, rec.line, rec.raw, opts.defaultZone);
          if (prunedBefore !== null && row.local_date < prunedBefore) {
            // Its day was pruned: the event may have been stored and deleted, so storing it again could count it twice.
            rejects.push({
              line: rec.line,
              raw: rec.raw,
              reason: `line ${rec.line}: occurred_at: local date ${row.local_date} is before ${prunedBefore}, the date events were pruned up to (retention); it cannot be counted any more`,
            });
          } else rows.push(row);
        } else {
          rows.push(toMemberRow(parsed.data as MemberInput, rec.line));
        }
      }
      if (rows.length + rejects.length >= chunkSize) flush(false);
      if (opts.onProgress && (n & 1023) === 0) opts.onProgress({ path: src.path, rows: n, bytes, size: src.size });
    }
    flush(true);
  } catch (err) {
    if (!(err instanceof RewardsError)) {
      rollbackBulk(db);
      throw err;
    }
    // Rows read before the failure are committed; the batch stays failed so it is never taken for complete.
    flush(true);
    failure = err;
  }
  opts.onProgress?.({ path: src.path, rows: n, bytes, size: src.size });

  const extra = [...stream.extraColumns].sort();
  finishBatch(db, batch.batch_id, failure ? 'failed' : 'complete', failure?.message ?? null, extra.length);
  const b = getBatch(db, batch.batch_id)!;
  Object.assign(report, {
    rows: b.rows,
    inserted: b.inserted,
    duplicates: b.duplicates,
    conflicts: b.conflicts,
    rejected: b.rejected,
    extra_columns: extra,
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
