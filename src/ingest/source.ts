import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DataError, UsageError, fsError } from '../errors.js';

export type Format = 'csv' | 'tsv' | 'ndjson';
export const FORMATS: readonly Format[] = ['csv', 'tsv', 'ndjson'];

/** An input file, hashed and sized before it is parsed so an already-ingested file can be skipped unread. */
export interface Source {
  /** As given by the user ('-' for stdin). */
  path: string;
  name: string;
  /** The file actually read: the path itself, or a spooled copy of stdin. */
  file: string;
  format: Format;
  sha256: string;
  size: number;
  gzip: boolean;
  /** Removes a spooled stdin copy. */
  cleanup(): Promise<void>;
}

/** A Source's data, without its cleanup: what a parser needs, and what can cross to a worker thread. */
export type SourceFile = Omit<Source, 'cleanup'>;

export function formatFromName(name: string): Format | null {
  const n = name.toLowerCase().replace(/\.gz$/, '');
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.tsv') || n.endsWith('.tab')) return 'tsv';
  if (n.endsWith('.ndjson') || n.endsWith('.jsonl')) return 'ndjson';
  return null;
}

async function hashFile(file: string): Promise<{ sha256: string; size: number; head: Buffer }> {
  const h = createHash('sha256');
  // One buffer, reused: a stream would allocate a fresh one per block, and a large file's worth of
  // them lingered as garbage outside the JS heap (tens of MB of RSS) until a collection.
  const buf = Buffer.allocUnsafe(1 << 16);
  const fh = await fsp.open(file, 'r');
  let size = 0;
  let head = Buffer.alloc(0);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      if (head.length < 2) head = Buffer.concat([head, buf.subarray(0, Math.min(2, bytesRead))]);
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: h.digest('hex'), size, head };
}

/**
 * Opens a file argument. stdin is spooled to a temporary file first: that gives it a sha256 before
 * parsing, so a rerun of `... | rewards ingest -` resumes or skips exactly like a file does.
 */
export async function openSource(path: string, format: Format | undefined, stdin: Readable): Promise<Source> {
  let file = path;
  let cleanup = async () => {};
  if (path === '-') {
    if (!format) throw new UsageError('reading stdin (-) needs --format csv|tsv|ndjson');
    const dir = await fsp.mkdtemp(join(tmpdir(), 'rewards-stdin-'));
    file = join(dir, 'stdin');
    await pipeline(stdin, createWriteStream(file, { mode: 0o600 }));
    cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  } else {
    try {
      const st = await fsp.stat(path);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (err) {
      throw fsError(err, path, 'read');
    }
  }
  const fmt = format ?? formatFromName(path);
  if (!fmt) {
    await cleanup();
    throw new UsageError(`${path}: cannot tell the format from the file name; name it .csv, .tsv, .ndjson or .jsonl (optionally .gz), or pass --format`);
  }
  let hashed;
  try {
    hashed = await hashFile(file);
  } catch (err) {
    await cleanup();
    throw fsError(err, path, 'read');
  }
  const gzip = hashed.head[0] === 0x1f && hashed.head[1] === 0x8b;
  return { path, name: path === '-' ? 'stdin' : basename(path), file, format: fmt, sha256: hashed.sha256, size: hashed.size, gzip, cleanup };
}

const READ_BYTES = 32 << 10;

/**
 * The decompressed bytes of a source. `onBytes` reports bytes read from disk (for progress).
 * Decompression errors become a DataError naming the file.
 */
export async function* readBytes(src: SourceFile, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  // 32 KiB reads: a block is decoded and cut into records all at once, and all of them are alive
  // until the block is validated. With 64 KiB, that live set made every young-generation GC of the
  // parser copy twice as much (a 1M-row load took 1-2 s longer; see parallel-parse.ts); 16 KiB
  // was as fast for CSV but slower for NDJSON, whose lines are longer.
  const raw = createReadStream(src.file, { highWaterMark: READ_BYTES });
  raw.on('data', (c) => onBytes((c as Buffer).length));
  const stream: Readable = src.gzip ? raw.pipe(createGunzip()) : raw;
  if (src.gzip) raw.on('error', (e) => stream.destroy(e));
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (total === 0 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))) {
        throw new DataError(`${src.path}: is UTF-16 text (byte order mark ${chunk[0] === 0xff ? 'FF FE' : 'FE FF'}), not UTF-8; re-export the file as UTF-8`);
      }
      if (total === 0 && looksBinary(chunk)) {
        throw new DataError(`${src.path}: looks like a binary file, not ${src.format.toUpperCase()} text (NUL bytes in the first block); check that this is the right file`);
      }
      total += chunk.length;
      yield chunk;
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/.test((err as Error).message)) {
      throw new DataError(`${src.path}: corrupt or truncated gzip data (${(err as Error).message}); fetch the file again`);
    }
    throw fsError(err, src.path, 'read');
  } finally {
    raw.destroy();
  }
  if (total === 0) {
    throw new DataError(
      src.format === 'ndjson'
        ? `${src.path}: empty file; an NDJSON export needs at least one record`
        : `${src.path}: empty file; an export with no rows still needs its header line`,
    );
  }
}

function looksBinary(chunk: Buffer): boolean {
  return chunk.subarray(0, 8192).includes(0);
}
