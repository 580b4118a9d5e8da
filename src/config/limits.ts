/**
 * Limits on what one input may make the tool do, whatever its bytes: a row over a limit is rejected
 * with a reason naming the limit, a file over one fails (65). Each has an `ingest` flag and a
 * config key (`limits`), documented in the README.
 */
export interface InputLimits {
  /** Nesting of objects and arrays inside `properties`. */
  json_depth: number;
  /** `properties` as stored (canonical JSON), in bytes. */
  properties_bytes: number;
  /** One record (a CSV/TSV record or an NDJSON line), in bytes of text. */
  record_bytes: number;
  /** A gzip file may decompress to this many times its size (plus a floor of GZIP_FLOOR_BYTES). */
  gzip_ratio: number;
}

export const DEFAULT_LIMITS: Readonly<InputLimits> = {
  json_depth: 64,
  properties_bytes: 64 * 1024,
  record_bytes: 1024 * 1024,
  gzip_ratio: 100,
};
