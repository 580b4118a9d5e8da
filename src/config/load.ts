/** Reading and validating the config file; relative paths resolve against its folder. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { type Config, ConfigSchema } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file, or null when running without one. */
  path: string | null;
  /** Resolves a path from the config against the config file's folder. */
  resolvePath(p: string): string;
}

/** A config read from the file at `abs`: its relative paths resolve against the file's folder. */
function loadedFrom(config: Config, abs: string): LoadedConfig {
  const base = dirname(abs);
  return { config, path: abs, resolvePath: (p) => (isAbsolute(p) ? p : resolve(base, p)) };
}

/** The config file's text; null when it is absent and `optional`. Unreadable is 78, saying why. */
export function readConfigText(path: string, optional = false): string | null {
  try {
    return readFileSync(resolve(path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && optional) return null;
    throw new ConfigError(
      code === 'ENOENT'
        ? `${path}: config file not found; pass --config PATH or set $REWARDS_CONFIG (see README, "Config")`
        : code === 'EISDIR'
          ? `${path}: is a folder, not a config file; pass the file itself, as in --config ${join(path, 'rewards.config.json')}`
          : `${path}: cannot read the config (${code ?? (err as Error).message}); check its permissions`,
    );
  }
}

/** `campaigns[0].rules[1].days` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

export function parseConfig(raw: unknown, where: string): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : '';
    throw new ConfigError(`${where}: ${formatPath(first.path)}: ${first.message}${more}; fix the config and rerun (\`rewards validate\` lists every problem)`);
  }
  return r.data;
}

/**
 * Reads and validates the config, every time a command runs: a cache of validated configs would
 * save about 0.08 s and could serve a stale or planted config. When `required` is false and the file
 * is absent (ingest without a config), defaults apply: UTC, no campaigns.
 */
export function loadConfig(path: string, required: boolean, explicit: boolean): LoadedConfig {
  const abs = resolve(path);
  const text = readConfigText(path, !required && !explicit);
  if (text === null) return { config: ConfigSchema.parse({}), path: null, resolvePath: (p) => resolve(p) };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message}); \`rewards validate\` shows where, then fix the config and rerun`);
  }
  return loadedFrom(parseConfig(raw, path), abs);
}

