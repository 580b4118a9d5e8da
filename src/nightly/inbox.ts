/** The nightly inbox: which files wait (regular files only) and archiving them once ingested. */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { CantCreateError, fsError, RewardsError } from '../errors.js';
import { formatFromName } from '../ingest/source.js';
import { makeOwnDir, moveNoReplace } from '../util/durable.js';

/** What an inbox entry is when it is not a regular file. */
function typeOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isFIFO()) return 'FIFO';
  if (st.isDirectory()) return 'folder';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'special file';
}

/**
 * Export files waiting in an inbox folder, oldest first (by modification time, then name), and the
 * entries with an export's name that are not regular files. Those are never read: the inbox is fed
 * by other systems, and a link would make the tool read (and store) whatever it points to, a FIFO
 * would block the night forever. The files are opened with O_NOFOLLOW too (ingest/source.ts), so a
 * file swapped for a link after this listing is refused as well.
 */
export function inboxFiles(dir: string): { files: string[]; notRegular: { path: string; type: string }[] } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], notRegular: [] };
    throw fsError(err, dir, 'read');
  }
  const files: string[] = [];
  const notRegular: { path: string; type: string }[] = [];
  for (const n of names) {
    if (n.startsWith('.') || formatFromName(n) === null) continue;
    const path = join(dir, n);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone since the listing
      throw fsError(err, path, 'read');
    }
    if (st.isFile()) files.push(path);
    else notRegular.push({ path, type: typeOf(st) });
  }
  // In name order: exports are named by their date, and a copy (cp, rsync without -t) gives files
  // modification times in whatever order it wrote them, which once loaded a week's files out of order.
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { files, notRegular };
}

/**
 * Moves an ingested file to the archive folder; a name already there gets a numeric suffix. Nothing
 * in the archive is ever replaced (util/durable.ts, moveNoReplace).
 */
export function archiveFile(file: string, archiveDir: string): string {
  try {
    makeOwnDir(archiveDir);
    const name = basename(file);
    const ext = name.endsWith('.gz') ? extname(name.slice(0, -3)) + '.gz' : extname(name);
    for (let i = 0; i < 10_000; i++) {
      const target = join(archiveDir, i === 0 ? name : `${name.slice(0, name.length - ext.length)}.${i}${ext}`);
      if (moveNoReplace(file, target)) return target;
    }
    throw new CantCreateError(`${archiveDir}: 10,000 files named like ${name} already; clear the archive folder and rerun`);
  } catch (err) {
    if (err instanceof RewardsError) throw err;
    throw fsError(err, archiveDir, 'write');
  }
}
