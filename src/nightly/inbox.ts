import { mkdirSync, readdirSync, renameSync, statSync, existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fsError } from '../errors.js';
import { formatFromName } from '../ingest/source.js';
import { fsyncDir } from '../util/atomic-file.js';

/** Export files waiting in an inbox folder, oldest first (by modification time, then name). */
export function inboxFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, dir, 'read');
  }
  return names
    .filter((n) => !n.startsWith('.') && formatFromName(n) !== null)
    .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime || (a.path < b.path ? -1 : 1))
    .map((f) => f.path);
}

/** Moves an ingested file to the archive folder; a name already there gets a numeric suffix. */
export function archiveFile(file: string, archiveDir: string): string {
  try {
    mkdirSync(archiveDir, { recursive: true });
    const name = basename(file);
    let target = join(archiveDir, name);
    for (let i = 1; existsSync(target); i++) {
      const ext = name.endsWith('.gz') ? extname(name.slice(0, -3)) + '.gz' : extname(name);
      target = join(archiveDir, `${name.slice(0, name.length - ext.length)}.${i}${ext}`);
    }
    renameSync(file, target);
    fsyncDir(archiveDir);
    return target;
  } catch (err) {
    throw fsError(err, archiveDir, 'write');
  }
}
