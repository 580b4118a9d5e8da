/**
 * Every number chosen for speed or memory rather than for correctness, in one place, each with why.
 * How they were measured, and what each buys, is in the README's "Performance" section; change one
 * only with `npm run bench` before and after. (The V8 and glibc settings must be set before Node
 * starts: they are in bin/rewards's first line.)
 */

/** Page cache of a connection, KiB: holds the upper levels of the indexes that runs and reads walk. */
export const CACHE_KIB = 32 * 1024;
/** Page cache while a file loads, KiB: the parser's thread and SQLite's sorter need the rest of the memory. */
export const LOAD_CACHE_KIB = 12 * 1024;
/** Page cache while a load window's rollup runs, KiB: small, so that its sort spills to disk instead of adding to peak memory. */
export const ROLLUP_CACHE_KIB = 4 * 1024;
/** Page caches of the export's main and temp databases, KiB: small, so that memory stays flat with the size of the data. */
export const EXPORT_MAIN_CACHE_KIB = 2000;
export const EXPORT_TEMP_CACHE_KIB = 1000;

/** Records per load transaction: fewer windows write the rollup fewer times; a crash re-reads at most one. */
export const COMMIT_EVERY = 200_000;
/** Rows per chunk the parser hands to the writer: small, so the parser's live set (and its GC work) stays small. */
export const CHUNK_ROWS = 100;
/** Text per chunk, characters: a chunk crosses threads as one string, and rows can be large. */
export const CHUNK_CHARS = 1 << 20;
/** Chunks the parser's thread may run ahead of the writer: lets it keep going through the writer's commits, bounded. */
export const PARSE_AHEAD = 64;
/** Files smaller than this are parsed on the main thread: starting a worker costs more than it saves. */
export const WORKER_MIN_BYTES = 2 << 20;
/** Bytes per read of an input file: a block is decoded and cut whole, and its records stay alive until validated. */
export const READ_BYTES = 32 << 10;

/** A `where` source's events are folded into its stored rollup once they exceed this share of all events (a fold rewrites most of it). */
export const FOLD_SHARE = 1 / 16;

/** Bytes an export file gathers before each write: few system calls, bounded memory. */
export const EXPORT_FLUSH_BYTES = 256 * 1024;
/** Rows between the export's yields to the event loop, where Ctrl-C is noticed. */
export const EXPORT_YIELD_ROWS = 20_000;

/** How long a statement waits for another connection's transaction before the command exits 75, ms. */
export const BUSY_TIMEOUT_MS = 10_000;

/** Rows per FETCH from a PostgreSQL cursor: one round trip to the server per this many rows, and at most this many in memory. */
export const PG_FETCH_ROWS = 10_000;
/** Rows buffered before each COPY into PostgreSQL's staging tables: few round trips, bounded memory. */
export const PG_COPY_ROWS = 20_000;
/** Requests sent to PostgreSQL without waiting for their answers, at most: the main thread parses on while the server merges, in bounded memory. */
export const PG_PIPELINE = 12;
/** PostgreSQL's work_mem for the tool's sessions, MB: a load window's sorts and hashes (200,000 rows) stay in memory instead of spilling. */
export const PG_WORK_MEM_MB = 64;
/** Rows a load stores before PostgreSQL's planner statistics are refreshed (ANALYZE, a sample: about 0.1 s). */
export const PG_ANALYZE_ROWS = 100_000;
