import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { VERSION } from '../version.js';
import type { LoadedConfig } from './load.js';
import type { Config } from './schema.js';

/**
 * Validated configs, cached by the exact text of the file. Loading zod and validating the config
 * (which asks ICU about every time zone) took 0.08-0.1 s of every command's start-up: a third of an
 * incremental run or a partner export. A cache entry is used only for the same bytes, validated by
 * the same tool version on the same Node and time-zone data; anything else is validated afresh.
 * The cache lives in the user's cache folder ($XDG_CACHE_HOME/rewards, else ~/.cache/rewards),
 * private to the user; when it cannot be read or written, configs are simply validated each time.
 */
function cacheDir(env: NodeJS.ProcessEnv): string | null {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return base ? join(base, 'rewards') : null;
}

function keyOf(text: string): string {
  const v = process.versions;
  return createHash('sha256').update(`${VERSION}\0${v.node}\0${v.icu ?? ''}\0${v.tz ?? ''}\0${text}`).digest('hex');
}

/** The config validated earlier from exactly this text, or undefined. */
function cached(env: NodeJS.ProcessEnv, key: string): Config | undefined {
  const dir = cacheDir(env);
  if (!dir) return undefined;
  try {
    const entry = JSON.parse(readFileSync(join(dir, `config-${key}.json`), 'utf8')) as { key?: string; config?: Config };
    return entry.key === key && entry.config ? entry.config : undefined;
  } catch {
    return undefined;
  }
}

function remember(env: NodeJS.ProcessEnv, key: string, config: Config): void {
  const dir = cacheDir(env);
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `config-${key}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, config }), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A cache is optional: a read-only or missing home only costs the validation next time.
  }
}

/** A config read from the file at `abs`: its relative paths resolve against the file's folder. */
export function loadedFrom(config: Config, abs: string): LoadedConfig {
  const base = dirname(abs);
  return { config, path: abs, resolvePath: (p) => (isAbsolute(p) ? p : resolve(base, p)) };
}

/**
 * Like loadConfig(), from the cache when this exact file was validated before. Every failure (no
 * file, bad JSON, an invalid config) goes through loadConfig() itself, so messages and exit codes
 * are the same either way.
 */
export async function loadConfigCached(path: string, required: boolean, explicit: boolean, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const abs = resolve(path);
  let text: string | null = null;
  try {
    text = readFileSync(abs, 'utf8');
  } catch {
    text = null;
  }
  const key = text === null ? null : keyOf(text);
  const hit = key === null ? undefined : cached(env, key);
  if (hit) return loadedFrom(hit, abs);
  const { loadConfig } = await import('./load.js');
  const loaded = loadConfig(path, required, explicit);
  if (key !== null && loaded.path !== null) remember(env, key, loaded.config);
  return loaded;
}
