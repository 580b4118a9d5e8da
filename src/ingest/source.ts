/** An input file: opened safely, hashed, format told, and read as bytes (gzip included, within limits). */
import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DataError, NoInputError, UsageError, fsError } from '../errors.js';
import { escapeText } from '../util/escape.js';
import { GZIP_FLOOR_BYTES } from './limits.js';
import { READ_BYTES } from '../tuning.js';

export type Format = 'csv' | 'tsv' | 'ndjson';
export const FORMATS: readonly Format[] = ['csv', 'tsv', 'ndjson'];

/** An input file, hashed and sized before it is parsed so an already-ingested file can be skipped unread. */
export interface Source {
  /** As given by the user ('-' for stdin). */
  path: string;
  name: string;
  /** The file actually read: the path itself, or a spooled copy of stdin. */
  file: string;
  /** The records' format; null for a zip archive whose entries are told by their names. */
  format: Format | null;
  /** A zip archive (Amplitude's export): its entries are read in order as one batch. */
  zip: boolean;
  sha256: string;
  size: number;
  gzip: boolean;
  /** The file hashed, by identity: what is read later must be the same file (not one swapped in since). */
  dev: number;
  ino: number;
  /** Refuse a symbolic link at the path (the nightly inbox). */
  noFollow: boolean;
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

/** A name the tool reads as input: an export format, or a zip archive of exports. */
export function isInputName(name: string): boolean {
  return formatFromName(name) !== null || name.toLowerCase().endsWith('.zip');
}

/**
 * Opens an input without ever blocking (O_NONBLOCK: a FIFO with no writer would wait forever) and,
 * for the inbox, without following a link (O_NOFOLLOW); then insists on a regular file.
 */
async function openRegular(path: string, shown: string, noFollow: boolean): Promise<fsp.FileHandle> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new NoInputError(`${escapeText(shown)}: is a symbolic link; the inbox takes regular files only: move the file itself there`);
    }
    throw fsError(err, shown, 'read');
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    const what = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or special file';
    throw new NoInputError(`${escapeText(shown)}: is ${what}, not a regular file; ingest reads files (or - for stdin)`);
  }
  return fh;
}

async function hashFile(fh: fsp.FileHandle): Promise<{ sha256: string; size: number; head: Buffer }> {
  const h = createHash('sha256');
  // One buffer, reused: a stream would allocate a fresh one per block, and a large file's worth of
  // them lingered as garbage outside the JS heap (tens of MB of RSS) until a collection.
  const buf = Buffer.allocUnsafe(1 << 16);
  let size = 0;
  let head = Buffer.alloc(0);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    if (head.length < 2) head = Buffer.concat([head, buf.subarray(0, Math.min(2, bytesRead))]);
    size += bytesRead;
  }
  return { sha256: h.digest('hex'), size, head };
}

/**
 * Opens a file argument. stdin is spooled to a temporary file first: that gives it a sha256 before
 * parsing, so a rerun of `... | rewards ingest -` resumes or skips exactly like a file does.
 * `noFollow`: refuse a symbolic link (the nightly inbox).
 */
export async function openSource(path: string, format: Format | undefined, stdin: Readable, noFollow = false): Promise<Source> {
  let file = path;
  let cleanup = async () => {};
  if (path === '-') {
    if (!format) throw new UsageError('reading stdin (-) needs --format csv|tsv|ndjson');
    const dir = await fsp.mkdtemp(join(tmpdir(), 'rewards-stdin-'));
    file = join(dir, 'stdin');
    await pipeline(stdin, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
    cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  }
  let hashed;
  let id;
  try {
    const fh = await openRegular(file, path, noFollow);
    try {
      const st = await fh.stat();
      id = { dev: st.dev, ino: st.ino };
      hashed = await hashFile(fh);
    } finally {
      await fh.close();
    }
  } catch (err) {
    await cleanup();
    if (err instanceof NoInputError) throw err;
    throw fsError(err, path, 'read');
  }
  const gzip = hashed.head[0] === 0x1f && hashed.head[1] === 0x8b;
  // By name: a spreadsheet (a zip too) saved as .csv is a wrong file, not an archive of exports.
  const zip = path !== '-' && path.toLowerCase().endsWith('.zip');
  const fmt = format ?? formatFromName(path);
  if (!fmt && !zip) {
    await cleanup();
    throw new UsageError(`${escapeText(path)}: cannot tell the format from the file name; name it .csv, .tsv, .ndjson or .jsonl (optionally .gz, or in a .zip), or pass --format or --source`);
  }
  return {
    path,
    name: path === '-' ? 'stdin' : basename(path),
    file,
    format: fmt,
    zip,
    sha256: hashed.sha256,
    size: hashed.size,
    gzip,
    ...id,
    noFollow,
    cleanup,
  };
}


/**
 * Opens the file that was hashed, and no other: as it was opened then (no link followed for the
 * inbox), and checked to be the same inode.
 */
export async function openHashed(src: SourceFile): Promise<fsp.FileHandle> {
  const fh = await openRegular(src.file, src.path, src.noFollow);
  const st = await fh.stat();
  if (st.dev !== src.dev || st.ino !== src.ino) {
    await fh.close();
    throw new DataError(`${escapeText(src.path)}: was replaced while being ingested; nothing of it was stored past this point: rerun`);
  }
  return fh;
}

/**
 * The decompressed bytes of a source. `onBytes` reports bytes read from disk (for progress).
 * Decompression errors become a DataError naming the file.
 */
export async function* readBytes(src: SourceFile, onBytes: (n: number) => void, gzipRatio: number): AsyncGenerator<Buffer> {
  const fh = await openHashed(src);
  const raw = createReadStream('', { fd: fh, highWaterMark: READ_BYTES });
  raw.on('data', (c) => onBytes((c as Buffer).length));
  try {
    yield* checkedBytes(raw, { label: src.path, format: src.format ?? 'ndjson', gzip: src.gzip, size: src.size, gzipRatio });
  } finally {
    raw.destroy();
  }
}

/**
 * Bytes of one input (a file, or an entry of a zip), gunzipped when `gzip`, refused when they are
 * UTF-16, binary, empty, or decompress beyond `gzipRatio` times `size` (a gzip or zip bomb must not
 * fill memory or the disk: the input fails instead).
 */
export async function* checkedBytes(
  input: Readable,
  o: { label: string; format: Format; gzip: boolean; size: number; gzipRatio: number; compressed?: boolean },
): AsyncGenerator<Buffer> {
  const compressed = o.gzip || (o.compressed ?? false);
  const maxBytes = compressed ? Math.max(GZIP_FLOOR_BYTES, o.gzipRatio * o.size) : Infinity;
  const stream: Readable = o.gzip ? input.pipe(createGunzip()) : input;
  if (o.gzip) input.on('error', (e) => stream.destroy(e));
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (total === 0 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff))) {
        throw new DataError(`${o.label}: is UTF-16 text (byte order mark ${chunk[0] === 0xff ? 'FF FE' : 'FE FF'}), not UTF-8; re-export the file as UTF-8`);
      }
      if (total === 0 && looksBinary(chunk)) {
        throw new DataError(`${o.label}: looks like a binary file, not ${o.format.toUpperCase()} text (NUL bytes in the first block); check that this is the right file`);
      }
      total += chunk.length;
      if (total > maxBytes) {
        throw new DataError(
          `${o.label}: decompresses to more than ${o.gzipRatio} times its ${o.size} bytes (the limit, --max-gzip-ratio); ` +
            'a gzip or zip bomb or a damaged file: check where it came from, and raise the limit only if it is genuine',
        );
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid|too many length or distance symbols/.test((err as Error).message)) {
      throw new DataError(`${o.label}: corrupt or truncated ${o.gzip ? 'gzip' : 'compressed'} data (${(err as Error).message}); fetch the file again`);
    }
    // Not the file system's: the data itself (a zip entry's deflate stream, or its size, was wrong).
    if (!(err as NodeJS.ErrnoException).syscall && !(err instanceof TypeError) && !(err instanceof RangeError)) throw new DataError(`${o.label}: corrupt or truncated data (${(err as Error).message}); fetch the file again`);
    throw fsError(err, o.label, 'read');
  } finally {
    stream.destroy();
  }
  if (total === 0) {
    throw new DataError(
      o.format === 'ndjson'
        ? `${o.label}: empty file; an NDJSON export needs at least one record`
        : `${o.label}: empty file; an export with no rows still needs its header line`,
    );
  }
}

function looksBinary(chunk: Buffer): boolean {
  return chunk.subarray(0, 8192).includes(0);
}
