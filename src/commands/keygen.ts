/** `rewards keygen`: prints a fresh partner key. */
import type { Command } from 'commander';
import { generateKey } from '../export/key.js';
import { contextFrom, printJson } from './context.js';

export function register(program: Command): void {
  program
    .command('keygen')
    .description("print a fresh random key for a partner's pseudonyms (base64, 32 random bytes)")
    .addHelpText(
      'after',
      `
Examples:
  rewards keygen
  export REWARDS_KEY_ACME="$(rewards keygen)"

Store the key in your secret manager and put it in the environment variable the partner's key_env
names. The same key gives the same pseudonyms in every export to that partner: changing it breaks the
partner's longitudinal view, losing it means pseudonyms cannot be reproduced.`,
    )
    .action((_flags: unknown, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const key = generateKey();
      if (ctx.json) printJson(ctx, { key });
      else ctx.stdout.write(key + '\n');
    });
}
