/** How ingest applies the limits of src/config/limits.ts. */

/** Small files may decompress to this much whatever their ratio (a tiny file of repeated rows is normal). */
export const GZIP_FLOOR_BYTES = 1024 * 1024;

/** Ignored columns named in a file's report; past these, the report says there were more. */
export const MAX_EXTRA_COLUMNS = 100;

/** How much of an over-long record is kept in the rejects table: enough to find it, not to fill the disk. */
export const REJECT_RAW_CHARS = 1024;

/** Text from the input as the database keeps it for a reject or a field problem: at most REJECT_RAW_CHARS. */
export function cutRaw(raw: string): string {
  return raw.length > REJECT_RAW_CHARS ? `${raw.slice(0, REJECT_RAW_CHARS)}... (${raw.length} characters, cut)` : raw;
}

/**
 * The nesting depth of a JSON value, counted without recursion (a value nested 5,000 deep must not
 * overflow the stack), stopping as soon as it passes `limit`.
 */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > limit) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === 'object') stack.push([x, d + 1]);
  }
  return false;
}

/** Entries of one zip archive: a vendor export has a file per hour or day; past this, an archive is more likely a bomb of tiny entries. */
export const MAX_ZIP_ENTRIES = 10_000;
