/** Partner keys: read from the environment, checked, generated. */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Partner } from '../config/schema.js';

/** A key must carry at least this many bytes of randomness: what `rewards keygen` makes. */
export const MIN_KEY_BYTES = 32;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why a key is refused, or null when it is acceptable: `rewards keygen`'s format (base64 of at
 * least 32 bytes), and not plainly low-entropy. The checks catch a key typed by a person (a phrase,
 * a repeated character, a short pattern repeated): 32 random bytes have about 30 distinct values and
 * no period, so a real key never trips them.
 */
export function keyProblem(value: string): string | null {
  if (!BASE64.test(value)) return "is not in `rewards keygen`'s format (base64)";
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < MIN_KEY_BYTES) return `holds ${bytes.length} bytes, at least ${MIN_KEY_BYTES} are required`;
  if (new Set(bytes).size < 16) return 'is plainly not random (too few distinct byte values)';
  for (let period = 1; period <= 16; period++) {
    let repeats = true;
    for (let i = period; i < bytes.length && repeats; i++) repeats = bytes[i] === bytes[i - period];
    if (repeats) return 'is plainly not random (a short pattern repeated)';
  }
  return null;
}

/**
 * The partner's pseudonym key: the UTF-8 bytes of the environment variable its config names (as
 * they always were, so that pseudonyms stay the same for a key that passes). Keys are never in the
 * config file (which is copied around and committed) and never in any message.
 */
export function partnerKey(env: NodeJS.ProcessEnv, partners: readonly Partner[], partner: Partner, configPath: string | null): Buffer {
  const where = `${configPath ?? 'config'}: partners[${partners.indexOf(partner)}]`;
  const value = env[partner.key_env];
  if (value === undefined || value === '') {
    throw new ConfigError(
      `partner "${partner.id}": $${partner.key_env} is not set (${where}: key_env); create a key with \`rewards keygen\`, ` +
        `store it in your secret manager, and export it as ${partner.key_env} before running the export`,
    );
  }
  const problem = keyProblem(value);
  if (problem) {
    throw new ConfigError(
      `partner "${partner.id}": the key in $${partner.key_env} ${problem}; a key must be ${MIN_KEY_BYTES} random bytes, base64: ` +
        'create one with `rewards keygen` (a new key changes every pseudonym of this partner)',
    );
  }
  return Buffer.from(value, 'utf8');
}

/** A fresh key: 32 random bytes, base64 (44 characters). */
export function generateKey(): string {
  return randomBytes(MIN_KEY_BYTES).toString('base64');
}
