import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsError } from '../errors.js';

/** fsync a folder so a rename inside it survives a crash. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Best-effort cleanup on a failure path: the original error is the one worth reporting. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // the folder itself may be gone or unreadable; the caller reports why the write failed
  }
}

/**
 * A hidden temp name beside the file, the same on every attempt: writers hold the database lock, so a
 * rerun after a crash overwrites the leftover and renames it, instead of leaving litter beside the
 * files a downstream poller reads.
 */
function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp`);
}

/**
 * Writes a file so that readers see either the old content or the new one, never a part:
 * temp name beside it, fsync, rename, fsync the folder.
 */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o644): void {
  writeThroughTemp(file, mode, (fd) => {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
  });
}

/**
 * Like writeFileAtomic, but streams the content from an iterable (memory stays flat however many
 * lines there are) and returns the sha256 of what was written.
 */
export function writeFileAtomicFrom(file: string, parts: Iterable<string>, mode = 0o644): string {
  const hash = createHash('sha256');
  writeThroughTemp(file, mode, (fd) => {
    let buf: string[] = [];
    let size = 0;
    const flush = () => {
      const b = Buffer.from(buf.join(''));
      hash.update(b);
      writeSync(fd, b);
      buf = [];
      size = 0;
    };
    for (const p of parts) {
      buf.push(p);
      size += p.length;
      if (size >= 1 << 16) flush();
    }
    flush();
  });
  return hash.digest('hex');
}

/** The temp-file protocol both writers share: write, fsync, close, rename, fsync the folder. */
function writeThroughTemp(file: string, mode: number, write: (fd: number) => void): void {
  const dir = dirname(file);
  const tmp = tempName(file);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(tmp, 'w', mode);
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    fsyncDir(dir);
  } catch (err) {
    removeQuietly(tmp);
    throw fsError(err, file, 'write');
  }
}
