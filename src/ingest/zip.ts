/**
 * Zip archives (Amplitude's export: a zip of gzipped JSON-lines files), read with yauzl entry by
 * entry, in the archive's order, as one input. An entry's name is only ever shown (escaped), never
 * used as a path: nothing is extracted to disk, so `../../x` is just a name.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { DataError } from '../errors.js';
import { escapeText } from '../util/escape.js';
import { MAX_ZIP_ENTRIES } from './limits.js';
import { READ_BYTES } from '../tuning.js';
import { checkedBytes, type Format, openHashed, type SourceFile } from './source.js';

export interface ZipEntry {
  /** The entry's name, for messages only. */
  name: string;
  /** `archive.zip: entry name`, escaped. */
  label: string;
  /** The entry's bytes, unzipped (and gunzipped when the entry is a gzip file), within the limits. */
  bytes: AsyncGenerator<Buffer>;
}

/** yauzl reading through a file handle that stays ours to close. */
class HandleReader extends yauzl.RandomAccessReader {
  constructor(private readonly fh: FileHandle) {
    super();
  }
  // Read with positioned reads: a ReadStream on the handle's fd closes the fd when destroyed, whatever autoClose says.
  override _readStreamForRange(start: number, end: number): Readable {
    const fh = this.fh;
    return Readable.from(
      (async function* () {
        for (let pos = start; pos < end; ) {
          const want = Math.min(READ_BYTES, end - pos);
          const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(want), 0, want, pos);
          if (bytesRead === 0) throw new DataError('the archive ends inside an entry (truncated)');
          pos += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
      })(),
      { objectMode: false },
    );
  }
}

/** A folder entry, or the metadata macOS adds to archives it makes: nothing to read. */
function skipped(name: string): boolean {
  return name.endsWith('/') || name.startsWith('__MACOSX/') || (name.split('/').pop() ?? '').startsWith('.');
}

/** The first bytes of a stream, and a stream of all of it again. */
async function peek(stream: Readable, n: number): Promise<{ head: Buffer; whole: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const r = await it.next();
    if (r.done) break;
    first.push(r.value);
    got += r.value.length;
  }
  const head = Buffer.concat(first);
  const whole = Readable.from(
    (async function* () {
      if (head.length) yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })(),
    { objectMode: false },
  );
  whole.on('close', () => stream.destroy());
  return { head, whole };
}

/**
 * The entries of a zip source, in order. `formatOf` names an entry's format (from the source, or
 * the entry's name). Each entry is held to the limits of a file of its own: its unpacked size is
 * bounded by --max-gzip-ratio times its size in the archive.
 */
export async function* zipEntries(src: SourceFile, gzipRatio: number, onBytes: (n: number) => void, formatOf: (name: string, label: string) => Format): AsyncGenerator<ZipEntry & { format: Format }> {
  const fh = await openHashed(src);
  let zip: yauzl.ZipFile;
  try {
    // Read through the file handle that was checked to be the hashed file (yauzl's own fd reader would close it behind the handle's back).
    const reader = new HandleReader(fh);
    // decodeStrings: false, so that yauzl hands over names it would refuse (`../x`, `C:\x`) instead of
    // failing the archive: they are read as data like any other entry.
    zip = await yauzl.fromRandomAccessReaderPromise(reader, src.size, { autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: false });
  } catch (err) {
    await fh.close();
    throw new DataError(`${escapeText(src.path)}: not a readable zip archive (${(err as Error).message}); fetch the file again`);
  }
  try {
    if (zip.entryCount > MAX_ZIP_ENTRIES) {
      throw new DataError(`${escapeText(src.path)}: has ${zip.entryCount} entries, more than ${MAX_ZIP_ENTRIES}; split the archive`);
    }
    let n = 0;
    for await (const entry of zip.eachEntry()) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const label = `${escapeText(src.path)}: ${escapeText(name)}`;
      if (skipped(name)) continue;
      n++;
      if (entry.isEncrypted()) throw new DataError(`${label}: is encrypted; export the archive without a password`);
      if (!entry.canDecodeFileData()) throw new DataError(`${label}: uses compression method ${entry.compressionMethod}; only stored and deflated entries can be read`);
      let stream: Readable;
      try {
        stream = await zip.openReadStreamPromise(entry);
      } catch (err) {
        throw new DataError(`${label}: cannot be read (${(err as Error).message}); fetch the archive again`);
      }
      onBytes(entry.compressedSize);
      const { head, whole } = await peek(stream, 2);
      const format = formatOf(name, label);
      yield {
        name,
        label,
        format,
        bytes: checkedBytes(whole, { label, format, gzip: head[0] === 0x1f && head[1] === 0x8b, size: entry.compressedSize, gzipRatio, compressed: entry.compressionMethod !== 0 }),
      };
    }
    if (n === 0) throw new DataError(`${escapeText(src.path)}: the zip archive holds no files; an export needs at least one`);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`${escapeText(src.path)}: damaged zip archive (${(err as Error).message}); fetch the file again`);
  } finally {
    zip.close();
    await fh.close();
  }
}
