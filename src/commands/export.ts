/** `rewards export`: checks before anything is touched, the lock, printing; the export is src/export/export.ts. */
import type { Command } from 'commander';
import { EXIT, RewardsError } from '../errors.js';
import { exportPartner, findPartner } from '../export/export.js';
import { partnerKey } from '../export/key.js';
import { VERSION } from '../version.js';
import { config, type Context, contextFrom, openStore, printJson, say, warn, withLock } from './context.js';
import { asOfOption } from './options.js';

interface ExportFlags {
  partner: string;
  asOf?: string;
}

export function register(program: Command): void {
  program
    .command('export')
    .description("write one partner's de-identified export folder: pseudonymous rows, suppressed aggregates, manifest, SHA256SUMS")
    .requiredOption('--partner <id>', 'a partner id from the config\'s "partners" block')
    .option('--as-of <date>', "data up to this date, YYYY-MM-DD (default: yesterday in the config's timezone)")
    .addHelpText(
      'after',
      `
Examples:
  export REWARDS_KEY_ACME="$(rewards keygen)"   # once; keep the key in your secret store
  rewards export --partner acme
  rewards export --partner acme --as-of 2026-03-31 --json | jq .dir

Writes <paths.outbox>/<partner>/<as-of>/ with members.csv, grants.csv, activity.csv, summary.csv,
manifest.json, SHA256SUMS and _SUCCESS. The folder appears complete or not at all; exporting the same
date again replaces it atomically. A Safe Harbor export carries data up to the end of the last
complete year on or before the as-of date; every export within one year carries the same data files.
See README, "rewards export", for the de-identification rules.`,
    )
    .action((flags: ExportFlags, cmd: Command) => runExport(contextFrom(cmd), flags));
}

export async function runExport(ctx: Context, flags: ExportFlags): Promise<void> {
  // Everything that can be refused is checked before the database or the outbox is touched.
  const cfg = await config(ctx, true);
  const where = cfg.path ?? ctx.configPath;
  const partner = findPartner(cfg.config, flags.partner, where);
  const asOf = asOfOption(flags.asOf, cfg.config);
  const key = partnerKey(ctx.env, cfg.config.partners, partner, cfg.path);

  const db = openStore(ctx, { mustExist: true });
  try {
    const r = await withLock(
      db,
      'export',
      (signal) => exportPartner(db, { config: cfg.config, partner, asOf, outbox: cfg.resolvePath(cfg.config.paths.outbox), key, toolVersion: VERSION, signal }),
      (sig) => new RewardsError(`export interrupted by ${sig}: nothing was published, any previous export of ${asOf} is unchanged; rerun`, EXIT.TEMPFAIL),
    );
    if (ctx.json) {
      printJson(ctx, {
        partner: r.partner,
        as_of: r.as_of,
        dir: r.dir,
        files: r.files.map((f) => ({ name: f.name, rows: f.rows, sha256: f.sha256 })),
        members: r.members,
        excluded_no_consent: r.excluded_no_consent,
        safe_harbor: r.safe_harbor,
        data_through: r.data_through,
        release: r.release,
        reissue: r.reissue,
        k_anonymity: r.k_anonymity,
        key_fingerprint: r.key_fingerprint,
      });
    } else {
      const rows = Object.fromEntries(r.files.map((f) => [f.name, f.rows]));
      say(
        ctx,
        `exported partner ${r.partner} as of ${r.as_of} to ${r.dir}: release ${r.release}${r.reissue ? ' (re-issued unchanged)' : ''}, data through ${r.data_through}; ` +
          `${r.members} members (${r.excluded_no_consent} without consent left out, ${r.k_anonymity.generalised_rows} generalised for k=${r.k_anonymity.k}), ` +
          `${rows['grants.csv']} grants, ${rows['activity.csv']} activity rows, ${rows['summary.csv']} summary rows (${r.suppressed_cells} suppressed); ` +
          `key ${r.key_fingerprint}`,
      );
    }
    if (!r.safe_harbor) {
      warn(ctx, `partner ${r.partner}: dates at ${r.date_precision} precision are NOT HIPAA Safe Harbor; this export needs an expert determination before it is shared`);
    }
  } finally {
    db.close();
  }
}
