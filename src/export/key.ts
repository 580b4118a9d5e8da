import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Partner } from '../config/schema.js';

/** Shorter keys are refused: a short key can be guessed, and with it every pseudonym recomputed. */
export const MIN_KEY_CHARS = 32;

/**
 * The partner's pseudonym key: the UTF-8 bytes of the environment variable its config names. Keys are
 * never in the config file (which is copied around and committed) and never in any message.
 */
export function partnerKey(env: NodeJS.ProcessEnv, partner: Partner, where: string): Buffer {
  const value = env[partner.key_env];
  if (value === undefined || value === '') {
    throw new ConfigError(
      `partner "${partner.id}": $${partner.key_env} is not set (${where}: key_env); create a key with \`rewards keygen\`, ` +
        `store it in your secret manager, and export it as ${partner.key_env} before running the export`,
    );
  }
  const chars = [...value].length;
  if (chars < MIN_KEY_CHARS) {
    throw new ConfigError(
      `partner "${partner.id}": $${partner.key_env} is ${chars} characters long, at least ${MIN_KEY_CHARS} are required; ` +
        'create a key with `rewards keygen` (keep using the old one if pseudonyms must stay the same)',
    );
  }
  return Buffer.from(value, 'utf8');
}

/** A fresh key: 32 random bytes, base64 (44 characters). */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}
