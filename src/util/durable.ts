/**
 * The one way the tool creates files and folders: whatever the umask, with modes that fit personal
 * data, never through a link planted where a file is about to be, and durably.
 * - files are created exclusively (O_EXCL | O_NOFOLLOW: an existing name or a symbolic link there is
 *   an error, never followed) and given their mode with fchmod, which the umask does not touch;
 * - a file that replaces another is written under an unpredictable temporary name, fsynced, renamed
 *   over the target, and the folder fsynced: readers see the old content or the new, never a part;
 * - folders are created 0750 (each level the tool creates; existing ones are left as they are);
 * - a file moved into a folder never replaces what stands at its new name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, fchmodSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CantCreateError, fsError } from '../errors.js';
import { crashPoint } from './crash-point.js';
import { escapeText } from './escape.js';


/** Files holding personal data or what is derived from it (grant files, exports): owner and group read. */
export const FILE_MODE = 0o640;
/** Folders the tool creates. */
export const DIR_MODE = 0o750;

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Creates `path` exclusively with exactly `mode`; returns the open descriptor. */
export function createExclusive(path: string, mode = FILE_MODE): number {
  const fd = openSync(path, CREATE, mode);
  try {
    fchmodSync(fd, mode);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Creates a folder and any missing parents, each new level with DIR_MODE whatever the umask. */
export function makeDir(dir: string, mode = DIR_MODE): void {
  const created = mkdirSync(dir, { recursive: true, mode });
  if (created === undefined) return; // it existed
  // mkdir's mode passes through the umask: set it on each level this call created, and no other.
  const first = resolve(created);
  for (let d = resolve(dir); ; d = dirname(d)) {
    chmodSync(d, mode);
    if (d === first || dirname(d) === d) break;
  }
}

/**
 * A folder the tool keeps for itself inside a configured one (`<outbox>/<partner>`,
 * `<archive>/<as-of>`): created like makeDir, and refused when a symbolic link or anything but a
 * folder stands at its name, since writing through it would write outside the tool's folders.
 */
export function makeOwnDir(dir: string, mode = DIR_MODE): void {
  try {
    const st = lstatSync(dir);
    if (st.isDirectory()) return;
    throw new CantCreateError(
      `${escapeText(dir)}: is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a folder'} where rewards keeps a folder of its own; ` +
        'nothing was written through it: remove it (and check who put it there), then rerun',
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  makeDir(dir, mode);
}

/**
 * fsync on a folder makes the names in it (a new file, a rename) durable. Filesystems that cannot
 * fsync a folder say so (EINVAL, ENOTSUP, EISDIR): nothing more can be done there; any other error
 * is a failure to write.
 */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EISDIR') return;
    throw fsError(err, dir, 'write');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** Temp names of `file`: hidden, beside it, with a random part nobody can plant a link at in advance. */
const TEMP_PREFIX = (file: string) => `.${basename(file)}.`;
const TEMP_SUFFIX = '.tmp';

/**
 * Removes what an interrupted write of `file` left (its temp files). The caller holds the database
 * lock, so no other writer of this tool is using them; a link planted under such a name is removed
 * itself, never followed.
 */
function removeLeftovers(file: string): void {
  const dir = dirname(file);
  const prefix = TEMP_PREFIX(file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix) && n.endsWith(TEMP_SUFFIX)) rmSync(join(dir, n), { force: true });
}

/**
 * Writes `file` whole and durably: a fresh temp file (exclusive, no link followed, `mode`), its
 * content from `parts` (memory stays flat however many), fsync, rename over `file`, fsync the
 * folder. Returns the sha256 of what was written. The folder is created if needed.
 */
export function writeFileDurable(file: string, parts: string | Buffer | Iterable<string>, mode = FILE_MODE): { sha256: string; bytes: number } {
  const dir = dirname(file);
  const tmp = join(dir, `${TEMP_PREFIX(file)}${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    makeDir(dir);
    removeLeftovers(file);
    const fd = createExclusive(tmp, mode);
    try {
      const emit = (b: Buffer) => {
        hash.update(b);
        bytes += b.length;
        writeAll(fd, b);
      };
      if (typeof parts === 'string' || Buffer.isBuffer(parts)) emit(typeof parts === 'string' ? Buffer.from(parts, 'utf8') : parts);
      else {
        let buf: string[] = [];
        let size = 0;
        for (const p of parts) {
          buf.push(p);
          size += p.length;
          if (size >= 1 << 16) {
            emit(Buffer.from(buf.join(''), 'utf8'));
            buf = [];
            size = 0;
          }
        }
        emit(Buffer.from(buf.join(''), 'utf8'));
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    crashPoint('durable:before-rename');
    renameSync(tmp, file);
    fsyncDir(dir);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the folder itself is the problem; the original error says so
    }
    throw fsError(err, file, 'write');
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Writes a new file that must not exist yet (inside a folder of the tool's own), exclusively and fsynced. */
export function writeNewFile(path: string, content: string | Buffer, mode = FILE_MODE): { sha256: string; bytes: number } {
  const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  try {
    const fd = createExclusive(path, mode);
    try {
      writeAll(fd, buf);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw fsError(err, path, 'write');
  }
  return { bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
}

/**
 * Moves `file` to `target` unless something already stands there; returns false then. link(2)
 * refuses an existing name, a link planted there included, where rename(2) would replace it. A
 * move interrupted between the link and the unlink left `target` as the same file: it is finished.
 * Both folders are fsynced. Filesystems without hard links get a rename after a check.
 */
export function moveNoReplace(file: string, target: string): boolean {
  try {
    linkSync(file, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const [a, b] = [lstatSync(file), lstatSync(target)];
      if (a.dev !== b.dev || a.ino !== b.ino) return false;
    } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
      if (exists(target)) return false;
      renameSync(file, target);
      fsyncDir(dirname(target));
      fsyncDir(dirname(file));
      return true;
    } else throw err;
  }
  unlinkSync(file);
  fsyncDir(dirname(target));
  fsyncDir(dirname(file));
  return true;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
