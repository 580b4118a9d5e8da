/**
 * The side effects of an export: files written into a staging folder beside the target, then
 * published by one atomic rename.
 *
 * Layout: `<outbox>/<partner>/<as-of>` is a symbolic link to a complete folder
 * `<outbox>/<partner>/.<as-of>.<stamp>`. POSIX cannot rename a folder over a non-empty folder, and
 * moving the old one away first would leave a moment with no folder at all; replacing a link with
 * rename(2) is atomic, so a reader (or a kill -9) only ever sees the previous export or the new one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { close, closeSync, fsync, lstatSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CantCreateError, fsError } from '../errors.js';
import { createExclusive, fsyncDir, makeDir, makeOwnDir } from '../util/durable.js';
import { csvRecord } from './csv.js';
import { EXPORT_FLUSH_BYTES } from '../tuning.js';



export interface FileInfo {
  name: string;
  rows: number;
  bytes: number;
  sha256: string;
}

const FLUSH_AT = EXPORT_FLUSH_BYTES;

/**
 * A CSV file written as records arrive, each already a line in the dialect of csv.ts: bytes are
 * hashed as they are written, and the file is fsynced on close.
 */
export class CsvFileWriter {
  private fd: number;
  private readonly hash = createHash('sha256');
  private readonly buf = Buffer.allocUnsafe(FLUSH_AT);
  private used = 0;
  rows = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    header: readonly string[],
  ) {
    try {
      this.fd = createExclusive(path);
    } catch (err) {
      throw fsError(err, path, 'write');
    }
    this.append(csvRecord(header));
  }

  /** One record already in the file's dialect, ending with its `\n`. */
  writeLine(line: string): void {
    this.append(line);
    this.rows++;
  }

  private append(text: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit: check the room before writing.
    if (this.used + text.length * 3 > FLUSH_AT) {
      this.flush();
      if (text.length * 3 > FLUSH_AT) {
        this.emit(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.used += this.buf.write(text, this.used, 'utf8');
  }

  private flush(): void {
    if (this.used === 0) return;
    this.emit(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private emit(bytes: Buffer): void {
    this.hash.update(bytes);
    this.bytes += bytes.length;
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    } catch (err) {
      throw fsError(err, this.path, 'write');
    }
  }

  /**
   * `close` with the fsync and close on libuv's thread pool: the caller goes on with the next file
   * while the disk catches up, and awaits `durable` before anything that needs the file on disk.
   */
  finish(): { file: FileInfo; durable: Promise<void> } {
    this.flush();
    const fd = this.fd;
    this.fd = -1; // the background fsync owns it now
    const durable = new Promise<void>((resolve, reject) => {
      fsync(fd, (syncErr) =>
        close(fd, (closeErr) => {
          const err = syncErr ?? closeErr;
          if (err) reject(fsError(err, this.path, 'write'));
          else resolve();
        }),
      );
    });
    durable.catch(() => {}); // reported to whoever awaits it; an export that fails earlier has its own error
    return { file: { name: basename(this.path), rows: this.rows, bytes: this.bytes, sha256: this.hash.digest('hex') }, durable };
  }

  /** Closes the file after a failure; the staging folder is removed anyway. */
  discard(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {
      // already failing; the original error is the one to report
    }
    this.fd = -1;
  }
}

/** Hidden siblings of `<as-of>`: its versions, a staging folder, or a link about to be renamed. */
function siblingPrefix(asOf: string): string {
  return `.${asOf}.`;
}

/** The version folder `<as-of>` currently points to, or null when there is no export yet. */
export function currentVersion(partnerDir: string, asOf: string): string | null {
  const target = join(partnerDir, asOf);
  let st;
  try {
    st = lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(err, target, 'write');
  }
  if (!st.isSymbolicLink()) {
    throw new CantCreateError(
      `${target}: exists and is not an export written by rewards (expected a link to a .${asOf}.* folder); move it away and rerun`,
    );
  }
  return readlinkSync(target);
}

/**
 * Creates the partner folder if needed, removes what an interrupted export left behind (staging
 * folders, a half-made link, versions no longer pointed to) and creates a fresh staging folder.
 * Runs under the database lock, so no other export of this database is writing there.
 */
export function prepareStaging(partnerDir: string, asOf: string, stamp: string): { staging: string; previous: string | null } {
  try {
    makeOwnDir(partnerDir);
  } catch (err) {
    if (err instanceof CantCreateError) throw err;
    throw fsError(err, partnerDir, 'write');
  }
  const previous = currentVersion(partnerDir, asOf);
  removeStale(partnerDir, asOf, previous);
  const staging = join(partnerDir, `${siblingPrefix(asOf)}${stamp}-${randomBytes(4).toString('hex')}`);
  try {
    makeDir(staging);
  } catch (err) {
    throw fsError(err, staging, 'write');
  }
  return { staging, previous };
}

function removeStale(partnerDir: string, asOf: string, keep: string | null): void {
  let names: string[];
  try {
    names = readdirSync(partnerDir);
  } catch (err) {
    throw fsError(err, partnerDir, 'write');
  }
  for (const name of names) {
    if (!name.startsWith(siblingPrefix(asOf)) || name === keep) continue;
    try {
      rmSync(join(partnerDir, name), { recursive: true, force: true });
    } catch (err) {
      throw fsError(err, join(partnerDir, name), 'write');
    }
  }
}

/**
 * Points `<as-of>` at the complete staging folder in one rename, makes that durable, then removes the
 * version it replaced. Throws only before the rename: once it is done the export is published, and
 * what follows must not make a caller discard the folder the link now points to.
 */
export function publish(partnerDir: string, asOf: string, staging: string, previous: string | null): string {
  const target = join(partnerDir, asOf);
  const link = join(partnerDir, `${siblingPrefix(asOf)}link-${randomBytes(4).toString('hex')}`);
  try {
    // Relative, so the outbox can be moved or mounted elsewhere and still resolve.
    symlinkSync(basename(staging), link);
    renameSync(link, target);
  } catch (err) {
    rmSync(link, { force: true });
    throw fsError(err, target, 'write');
  }
  try {
    fsyncDir(partnerDir);
  } catch {
    // An I/O error here cannot undo the rename, which is atomic; the next export syncs again.
  }
  // Only ever a sibling this tool made: a link edited by hand must not make us delete elsewhere.
  if (previous && previous !== basename(staging) && previous.startsWith(siblingPrefix(asOf)) && !previous.includes('/')) {
    try {
      rmSync(join(partnerDir, previous), { recursive: true, force: true });
    } catch {
      // left for the next export of this date to remove
    }
  }
  return target;
}

/** Removes a staging folder after a failure; never throws over the original error. */
export function discardStaging(staging: string): void {
  try {
    rmSync(staging, { recursive: true, force: true });
  } catch {
    // left for the next export's clean-up
  }
}
