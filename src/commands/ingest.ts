/** `rewards ingest`: flags (limits included), help, the batch report; ingest itself is src/ingest/. */
import type { Command } from 'commander';
import { EXIT, type ExitCode, ReportedError, UsageError } from '../errors.js';
import { ingestFiles, type IngestReport } from '../ingest/ingest-files.js';
import { FORMATS, type Format } from '../ingest/source.js';
import { DEFAULT_LIMITS, type InputLimits } from '../config/limits.js';
import { EVENT_FIELDS, EVENT_OFFSET, MEMBER_FIELDS } from '../ingest/field-names.js';
import { buildMapping } from '../ingest/mapping.js';
import { BUILTIN_SOURCES, findSource } from '../config/sources.js';
import { closest } from '../util/suggest.js';
import { MAX_EXTRA_COLUMNS } from '../ingest/limits.js';
import { collect, config, contextFrom, type Context, ingestTuning, openStore, printJson, say, warn, withLock } from './context.js';
import { progressBar } from './progress.js';

interface IngestFlags {
  kind: string;
  format?: string;
  source?: string;
  map?: string[];
  maxRejectRate: string;
  force?: boolean;
  maxJsonDepth?: string;
  maxPropertiesBytes?: string;
  maxRecordBytes?: string;
  maxGzipRatio?: string;
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description('load event or member exports (CSV, TSV, NDJSON, optionally gzipped) into the database')
    .argument('<files...>', 'export files, or - for stdin (needs --format)')
    .option('--kind <kind>', 'what the files hold: events or members', 'events')
    .option('--format <format>', 'csv, tsv or ndjson (default: the source\'s, else from the file extension)')
    .option('--source <name>', `a vendor's export format (${Object.keys(BUILTIN_SOURCES).join(', ')}) or one the config defines under "sources"`)
    .option('--map <FIELD=PATH>', 'read FIELD from a differently named column, or a JSON path such as context.timezone (repeatable; over the source\'s)', collect)
    .option('--max-reject-rate <rate>', "exit 65 when more than this share of a file's rows is rejected", '0.05')
    .option('--force', 'read a file again even if the same bytes were already ingested')
    .option('--max-json-depth <n>', `reject events whose properties nest deeper (default: config limits.json_depth, else ${DEFAULT_LIMITS.json_depth})`)
    .option('--max-properties-bytes <n>', `reject events whose properties are larger (default: limits.properties_bytes, else ${DEFAULT_LIMITS.properties_bytes})`)
    .option('--max-record-bytes <n>', `reject records (lines) longer than this (default: limits.record_bytes, else ${DEFAULT_LIMITS.record_bytes})`)
    .option('--max-gzip-ratio <n>', `fail a gzip file that decompresses to more than n times its size (default: limits.gzip_ratio, else ${DEFAULT_LIMITS.gzip_ratio})`)
    .addHelpText(
      'after',
      `
Examples:
  rewards ingest exports/events-2026-03-01.csv.gz
  rewards ingest --kind members exports/members.csv
  zcat events.ndjson.gz | rewards ingest --format ndjson -
  rewards ingest --map occurred_at=timestamp --map user_id=member events.tsv
  rewards ingest --source segment segment-2026-03-01.json.gz
  rewards ingest --source amplitude 123456_export.zip          # a zip of gzipped JSON lines, one batch
  rewards ingest --source mixpanel --map timezone='properties["$timezone"]' mixpanel.ndjson
  rewards ingest --json events.csv | jq .totals

Each file is a batch: a file whose bytes were already ingested in full is skipped; an interrupted
load is resumed where it stopped. Rejected rows are kept: see \`rewards rejects\`. A member row is
rejected only for its user_id; an invalid optional field is stored empty and listed there too.
A mapped column the header lacks exits 64 before any row is read; a mapped JSON path that no
record has is a warning. Sources and their fields: README, "Sources".`,
    )
    .action(async (files: string[], flags: IngestFlags, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const code = await runIngest(ctx, files, flags);
      if (code !== EXIT.OK) throw new ReportedError(code);
    });
}

function parseFlags(flags: IngestFlags) {
  if (flags.kind !== 'events' && flags.kind !== 'members') throw new UsageError(`--kind must be events or members, not "${flags.kind}"`);
  const kind = flags.kind;
  if (flags.format !== undefined && !FORMATS.includes(flags.format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, not "${flags.format}"`);
  }
  const rate = Number(flags.maxRejectRate);
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new UsageError(`--max-reject-rate must be a number from 0 to 1, not "${flags.maxRejectRate}"`);
  const fields: readonly string[] = kind === 'events' ? [...EVENT_FIELDS, EVENT_OFFSET] : MEMBER_FIELDS;
  const map: Record<string, string> = {};
  for (const m of flags.map ?? []) {
    const eq = m.indexOf('=');
    const field = m.slice(0, eq).trim().toLowerCase();
    const column = m.slice(eq + 1).trim();
    if (eq < 1 || !column) throw new UsageError(`--map takes FIELD=COLUMN, e.g. --map occurred_at=timestamp; got "${m}"`);
    if (!fields.includes(field)) {
      const near = closest(field, fields);
      throw new UsageError(`--map: "${field}" is not a ${kind} field${near ? `; did you mean ${near}?` : ''}; fields are ${fields.join(', ')}`);
    }
    map[field] = column;
  }
  if (flags.source !== undefined && kind !== 'events') throw new UsageError('--source reads event exports; members files take --map');
  return { kind, format: flags.format as Format | undefined, maxRejectRate: rate, map, force: flags.force ?? false } as const;
}

/** The config's limits, each overridden by its flag. */
function limitsFrom(flags: IngestFlags, configured: InputLimits): InputLimits {
  const pick = (flag: string | undefined, name: string, fallback: number) => {
    if (flag === undefined) return fallback;
    const n = Number(flag);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} takes a positive whole number, not "${flag}"`);
    return n;
  };
  return {
    json_depth: pick(flags.maxJsonDepth, 'max-json-depth', configured.json_depth),
    properties_bytes: pick(flags.maxPropertiesBytes, 'max-properties-bytes', configured.properties_bytes),
    record_bytes: pick(flags.maxRecordBytes, 'max-record-bytes', configured.record_bytes),
    gzip_ratio: pick(flags.maxGzipRatio, 'max-gzip-ratio', configured.gzip_ratio),
  };
}

export async function runIngest(ctx: Context, files: string[], flags: IngestFlags): Promise<ExitCode> {
  const { map, ...parsed } = parseFlags(flags);
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be given only once');
  const tuning = ingestTuning(ctx);
  const cfg = await config(ctx, false);
  const source = flags.source === undefined ? null : { name: flags.source, def: findSource(flags.source, cfg.config.sources) };
  const mapping = buildMapping(parsed.kind, source, map);
  const limits = limitsFrom(flags, cfg.config.limits);
  const db = openStore(ctx);
  const bar = progressBar(ctx);
  try {
    const report = await withLock(db, 'ingest', () =>
      ingestFiles(db, files, {
        ...parsed,
        mapping,
        defaultZone: cfg.config.timezone,
        limits,
        ...tuning,
        stdin: ctx.stdin,
        onFile: () => bar.start(),
        onProgress: (p) => bar.update(p.path, p.rows, p.bytes, p.size),
      }),
    );
    bar.done();
    printReport(ctx, report);
    return report.exit;
  } finally {
    db.close();
  }
}

export function printReport(ctx: Context, report: IngestReport): void {
  if (ctx.json) {
    printJson(ctx, {
      files: report.files.map((f) => ({
        path: f.path,
        sha256: f.sha256,
        status: f.status,
        batch_id: f.batch_id,
        rows: f.rows,
        inserted: f.inserted,
        duplicates: f.duplicates,
        conflicts: f.conflicts,
        rejected: f.rejected,
        field_problems: f.field_problems,
        extra_columns: f.extra_columns,
        extra_columns_more: f.extra_columns_more,
        source: f.source,
        mapping: f.mapping,
        warnings: f.warnings,
        error: f.error,
      })),
      totals: report.totals,
    });
  }
  for (const f of report.files) {
    for (const w of f.warnings) warn(ctx, w);
    if (ctx.json) {
      if (f.error) warn(ctx, f.error);
      continue;
    }
    if (f.status === 'skipped') say(ctx, `${f.path}: skipped, already ingested in full as batch ${f.batch_id} (--force reads it again)`);
    else if (f.status === 'ingested') {
      const extra = f.extra_columns.length ? `; ignored column(s): ${f.extra_columns.join(', ')}${f.extra_columns_more ? ` and more (only the first ${MAX_EXTRA_COLUMNS} are named)` : ''}` : '';
      const problems = f.field_problems ? `, ${f.field_problems} field problem(s) (stored empty)` : '';
      say(ctx, `${f.path}: ${f.status}, batch ${f.batch_id}: ${f.rows} rows, ${f.inserted} inserted, ${f.duplicates} duplicates, ${f.conflicts} conflicts, ${f.rejected} rejected${problems}${extra}`);
      if (f.source || Object.entries(f.mapping).some(([k, v]) => k !== v)) {
        say(ctx, `  read${f.source ? ` as ${f.source}` : ''}: ${Object.entries(f.mapping).map(([k, v]) => (k === v ? k : `${k} <- ${v}`)).join(', ')}`);
      }
    } else if (f.error) {
      // A bad file: one line naming the file and the problem, and what was kept of it, if anything.
      const kept =
        f.rows > 0
          ? `; batch ${f.batch_id} (failed) kept what was read before: ${f.rows} rows, ${f.inserted} inserted, ${f.duplicates} duplicates, ${f.conflicts} conflicts, ${f.rejected} rejected`
          : '';
      warn(ctx, f.error + kept);
      continue;
    }
    if (f.error) warn(ctx, f.error);
  }
  if (!ctx.json && report.files.length > 1) {
    const t = report.totals;
    say(ctx, `total: ${t.rows} rows, ${t.inserted} inserted, ${t.duplicates} duplicates, ${t.conflicts} conflicts, ${t.rejected} rejected, ${t.field_problems} field problem(s)`);
  }
}
