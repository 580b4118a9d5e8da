/** The nightly inbox: which files wait (regular files only) and archiving them once ingested. */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { CantCreateError, fsError, RewardsError } from '../errors.js';
import type { SourceDef } from '../config/schema.js';
import { BUILTIN_SOURCES } from '../config/sources.js';
import { isInputName } from '../ingest/source.js';
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

/** A file-name pattern (`*` any characters, `?` one) as a regular expression matching whole names. */
export function namePattern(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${body}$`, 's');
}

export interface InboxFile {
  path: string;
  /** The source to read it with (config `sources`, or a built-in preset), or null for the built-in field names. */
  source: string | null;
}

interface Listing {
  files: InboxFile[];
  notRegular: { path: string; type: string }[];
}

/**
 * The regular files of one folder that `pick` gives a source (or null) to; entries that would be
 * read but are not regular files are listed apart.
 */
function listFolder(dir: string, pick: (name: string) => { source: string | null } | undefined, out: Listing): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(err, dir, 'read');
  }
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const picked = pick(n);
    if (!picked) continue;
    const path = join(dir, n);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone since the listing
      throw fsError(err, path, 'read');
    }
    if (st.isFile()) out.files.push({ path, source: picked.source });
    else out.notRegular.push({ path, type: typeOf(st) });
  }
}

/**
 * Export files waiting in an inbox folder, and the entries with an export's name that are not
 * regular files. Those are never read: the inbox is fed by other systems, and a link would make the
 * tool read (and store) whatever it points to, a FIFO would block the night forever. The files are
 * opened with O_NOFOLLOW too (ingest/source.ts), so a file swapped for a link after this listing is
 * refused as well.
 *
 * With `sources` (the events inbox; null for members): a file whose name matches a source's `match` pattern is read
 * with it; a subfolder named by a source's `inbox`, or by a built-in preset (`segment/`), holds
 * files of that source, whatever their names.
 */
export function inboxFiles(dir: string, sources: Readonly<Record<string, SourceDef>> | null = null): Listing {
  const out: Listing = { files: [], notRegular: [] };
  const patterns = Object.entries(sources ?? {})
    .filter(([, s]) => s.match !== undefined)
    .map(([name, s]) => ({ name, re: namePattern(s.match!) }));
  listFolder(
    dir,
    (n) => {
      const matched = patterns.find((p) => p.re.test(n));
      if (matched) return { source: matched.name };
      return isInputName(n) ? { source: null } : undefined;
    },
    out,
  );
  if (sources) {
    const folders = new Map<string, string>(Object.keys(BUILTIN_SOURCES).map((n) => [n, n]));
    for (const [name, s] of Object.entries(sources)) if (s.inbox !== undefined) folders.set(s.inbox, name);
    for (const [folder, source] of folders) listFolder(join(dir, folder), () => ({ source }), out);
  }
  // In name order: exports are named by their date, and a copy (cp, rsync without -t) gives files
  // modification times in whatever order it wrote them, which once loaded a week's files out of order.
  const key = (f: InboxFile) => `${basename(f.path)}\u0000${f.path}`;
  out.files.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return out;
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
