/**
 * Parsing on a second thread. Reading, decoding and validating a large file cost about as much CPU
 * as writing its rows to SQLite; on a worker thread the two overlap, and a large load takes about
 * the time of the slower one instead of their sum (see `npm run bench`). Rows are the same either
 * way: the worker runs parseChunks() unchanged.
 */
import { Worker } from 'node:worker_threads';
import type { EventRow } from '../store/ingest.js';
import type { ParseOptions, ParsedChunk } from './parse.js';
import type { SourceFile } from './source.js';
import { PARSE_AHEAD as AHEAD, WORKER_MIN_BYTES } from '../tuning.js';



/**
 * Events cross as one string and a table of lengths, not as objects: structured cloning costs per
 * string and per property, and this is a single copy of the text, cut up again on the writer's side
 * (substrings there share the text). It is the writer's thread that pays for the copy.
 */
export interface PackedEvents {
  text: string;
  /** Per row, the length of each text field in order (-1 for null), then its line number. */
  meta: Int32Array<ArrayBuffer>;
}

/** Per row: event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, raw, line. */
const STRIDE = 10;

export function packEvents(rows: EventRow[]): PackedEvents {
  // Field by field rather than a loop over the field names: a property read by a variable key is
  // several times slower, and this runs for every row of a large load.
  const parts: string[] = [];
  const meta = new Int32Array(rows.length * STRIDE);
  let m = 0;
  const text = (v: string) => {
    parts.push(v);
    meta[m++] = v.length;
  };
  const nullable = (v: string | null) => {
    if (v === null) meta[m++] = -1;
    else text(v);
  };
  for (const r of rows) {
    text(r.event_id);
    text(r.user_id);
    text(r.event_type);
    text(r.occurred_at);
    nullable(r.timezone);
    text(r.local_date);
    nullable(r.properties);
    text(r.content_hash);
    text(r.raw);
    meta[m++] = r.line;
  }
  return { text: parts.join(''), meta };
}

export function unpackEvents(p: PackedEvents): EventRow[] {
  const rows: EventRow[] = [];
  const { text, meta } = p;
  let at = 0;
  const next = (len: number): string | null => {
    if (len < 0) return null;
    const v = text.slice(at, at + len);
    at += len;
    return v;
  };
  for (let m = 0; m < meta.length; m += STRIDE) {
    rows.push({
      event_id: next(meta[m]!)!,
      user_id: next(meta[m + 1]!)!,
      event_type: next(meta[m + 2]!)!,
      occurred_at: next(meta[m + 3]!)!,
      timezone: next(meta[m + 4]!),
      local_date: next(meta[m + 5]!)!,
      properties: next(meta[m + 6]!),
      content_hash: next(meta[m + 7]!)!,
      raw: next(meta[m + 8]!)!,
      line: meta[m + 9]!,
    });
  }
  return rows;
}

/** Messages from the worker: a chunk (events encoded), or the end of the stream. */
export type WorkerMessage = { chunk: Omit<ParsedChunk, 'rows'> & { rows: PackedEvents | ParsedChunk['rows'] } } | { done: true };

export interface WorkerInput {
  src: SourceFile;
  opts: ParseOptions;
  ahead: number;
}

/**
 * parseChunks() on a worker thread. The worker stays at most AHEAD chunks ahead of the consumer;
 * it is stopped when the consumer stops early (an error while storing), and an unexpected error in
 * it (a bug) is rethrown here.
 */
export async function* parseChunksInWorker(src: SourceFile, opts: ParseOptions): AsyncGenerator<ParsedChunk> {
  const { cleanup: _ignored, ...plain } = src as SourceFile & { cleanup?: unknown };
  const worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
    workerData: { src: plain, opts, ahead: AHEAD } satisfies WorkerInput,
  });
  const queue: WorkerMessage[] = [];
  let failure: Error | null = null;
  let exited = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  worker.on('message', (m: WorkerMessage) => {
    queue.push(m);
    notify();
  });
  worker.on('error', (err) => {
    failure = err instanceof Error ? err : new Error(String(err));
    notify();
  });
  worker.on('exit', (code) => {
    exited = true;
    if (code !== 0 && !failure) failure = new Error(`the ingest parser thread stopped with code ${code}`);
    notify();
  });
  try {
    for (;;) {
      const m = queue.shift();
      if (!m) {
        if (failure) throw failure;
        if (exited) throw new Error('the ingest parser thread ended without finishing the file');
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      if ('done' in m) return;
      worker.postMessage('next');
      const c = m.chunk;
      yield { ...c, rows: opts.kind === 'events' ? unpackEvents(c.rows as PackedEvents) : (c.rows as ParsedChunk['rows']) };
    }
  } finally {
    if (!exited) await worker.terminate();
  }
}

/**
 * parseChunks() on this thread. Loaded only here: when a worker parses, the writer's thread never
 * loads the schemas and zod (about 10 MB of a large load's peak memory).
 */
async function* parseChunksHere(src: SourceFile, opts: ParseOptions): AsyncGenerator<ParsedChunk> {
  const { parseChunks } = await import('./parse.js');
  yield* parseChunks(src, opts);
}

/** In-thread or on a worker, by size; the rows are the same. */
export function parseFile(src: SourceFile, opts: ParseOptions, parallel: boolean | 'auto'): AsyncGenerator<ParsedChunk> {
  const useWorker = parallel === 'auto' ? src.size >= WORKER_MIN_BYTES : parallel;
  return useWorker ? parseChunksInWorker(src, opts) : parseChunksHere(src, opts);
}
