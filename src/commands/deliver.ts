/** `rewards deliver`: flags, help, progress and printing; the delivery itself is src/deliver/deliver.ts. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import type { Partner } from '../config/schema.js';
import { deliver, type DeliverResult } from '../deliver/deliver.js';
import { ConfigError } from '../errors.js';
import { exportPartner, findPartner } from '../export/export.js';
import { partnerKey } from '../export/key.js';
import type { Db } from '../store/db.js';
import { VERSION } from '../version.js';
import { config, type Context, contextFrom, openStore, printJson, say, withLock } from './context.js';
import { asOfOption } from './options.js';

export function register(program: Command): void {
  program
    .command('deliver')
    .description("upload a partner's export folder to its SFTP server: complete or not at all there, encrypted when asked, recorded once")
    .requiredOption('--partner <id>', 'a partner id from the config, with a "delivery" block')
    .option('--as-of <date>', "the export's as-of date, YYYY-MM-DD (default: yesterday in the config's timezone)")
    .addHelpText(
      'after',
      `
Examples:
  rewards deliver --partner acme --as-of 2026-12-31
  rewards deliver --partner acme --json | jq .remote_path

Exports first when there is no export of that date. Files go to a hidden folder on the server, are
checked by size, then the folder is renamed to <remote_dir>/<as-of> and _SUCCESS is put last. An
export already delivered is not sent again; the same date with other data goes to <as-of>.v2. A
delivery killed or failed part way is taken up by the next run, from what the server holds.
Exit 69 when the server cannot be reached after the retries (the next run tries again), 78 for a
refused or unknown host key, a refused key, or an identity file others can read. Keys come from the
environment (key_env), never from the command line. See README, "rewards deliver" and "Operations".`,
    )
    .action(async (flags: { partner: string; asOf?: string }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const cfg = await config(ctx, true);
      const partner = findPartner(cfg.config, flags.partner, cfg.path ?? ctx.configPath);
      const asOf = asOfOption(flags.asOf, cfg.config);
      if (!partner.delivery) {
        throw new ConfigError(`${cfg.path ?? ctx.configPath}: partner "${partner.id}" has no "delivery" block; add one (README, "rewards deliver")`);
      }
      const db = openStore(ctx, { mustExist: true });
      try {
        const r = await withLock(db, 'deliver', () => deliverOne(db, cfg, partner, asOf, ctx));
        if (ctx.json) printJson(ctx, r);
        else if (!r.sent) say(ctx, `partner ${r.partner} ${r.as_of}: already delivered to ${r.host}:${r.remote_path}; nothing sent`);
        else say(ctx, `partner ${r.partner} ${r.as_of}: delivered ${r.files.length} file(s), ${r.bytes} bytes${r.encrypted ? ' (OpenPGP)' : ''} to ${r.host}:${r.remote_path}`);
      } finally {
        db.close();
      }
    });
}

/** The partner's delivery block with its local paths resolved against the config's folder. */
export function resolvedPartner(cfg: LoadedConfig, partner: Partner): Partner {
  const d = partner.delivery;
  if (!d) return partner;
  return {
    ...partner,
    delivery: {
      ...d,
      pgp_recipient_key: d.pgp_recipient_key === undefined ? undefined : cfg.resolvePath(d.pgp_recipient_key),
      sftp: { ...d.sftp, identity_file: cfg.resolvePath(d.sftp.identity_file), known_hosts: cfg.resolvePath(d.sftp.known_hosts) },
    },
  };
}

/** Delivers one partner's export of `asOf`, exporting it first when there is none. */
export async function deliverOne(db: Db, cfg: LoadedConfig, partner: Partner, asOf: string, ctx?: Context): Promise<DeliverResult> {
  const dir = join(cfg.resolvePath(cfg.config.paths.outbox), partner.id, asOf);
  if (!existsSync(join(dir, '_SUCCESS'))) {
    const key = partnerKey(ctx?.env ?? process.env, cfg.config.partners, partner, cfg.path);
    await exportPartner(db, { config: cfg.config, partner, asOf, outbox: cfg.resolvePath(cfg.config.paths.outbox), key, toolVersion: VERSION });
  }
  const where = `${cfg.path ?? 'config'}: partners[${cfg.config.partners.indexOf(partner)}]`;
  let shown = 0;
  return deliver(db, {
    partner: resolvedPartner(cfg, partner),
    where,
    asOf,
    dir,
    onProgress: ctx?.interactive
      ? (sent, total) => {
          const now = Date.now();
          if (now - shown < 100 && sent < total) return;
          shown = now;
          if (sent >= total) return void ctx.stderr.write('\r\x1b[2K');
          const width = 24;
          const filled = Math.round((width * sent) / Math.max(1, total));
          const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
          ctx.stderr.write(`\r\x1b[2Kdeliver ${partner.id} ${asOf} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${mib(sent)}/${mib(total)}`);
        }
      : undefined,
  });
}
