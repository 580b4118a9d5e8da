/** `rewards nightly`: flags, help, the summary line; the night itself is src/nightly/nightly.ts. */
import type { Command } from 'commander';
import { EXIT, ReportedError, UsageError } from '../errors.js';
import { exportPartner } from '../export/export.js';
import { partnerKey } from '../export/key.js';
import { interruptNight, runNightly, type Exporter } from '../nightly/nightly.js';
import { VERSION } from '../version.js';
import { config, contextFrom, ingestTuning, openStore, printJson, say, warn, withLock } from './context.js';
import { deliverOne } from './deliver.js';
import { asOfOption } from './options.js';
import type { Db } from '../store/db.js';
import type { LoadedConfig } from '../config/load.js';

export function register(program: Command): void {
  program
    .command('nightly')
    .description('the cron job: ingest the inbox, run the campaigns (catching up missed nights), write due partner exports, prune')
    .option('--as-of <date>', 'the night to run (default: yesterday in the config timezone)')
    .option('--no-catch-up', 'run only --as-of, even if earlier nights were missed')
    .option('--max-catch-up <nights>', 'the most nights to catch up in one go; more is refused (64)', '31')
    .addHelpText(
      'after',
      `
Crontab (the tool locks itself; no flock needed). Partner keys come from a file only the service
account can read (0600), never from the command line, where \`ps\` would show them to every user:
  15 2 * * *  cd /srv/rewards && set -a && . /etc/rewards/keys.env && set +a && bin/rewards nightly --quiet >>/var/log/rewards/nightly.log 2>&1 || echo "rewards nightly exit $?" | mail -s "rewards nightly failed" oncall@example.com

Exit codes: 0 every step succeeded; 65 some input was rejected or a file failed, the rest ran;
75 another run holds the lock (retry later); 78 bad config; otherwise the failing step's code.

Examples:
  rewards nightly
  rewards nightly --as-of 2026-03-31 --json | jq .steps
  rewards nightly --max-catch-up 90        # after a long outage: catch up to 90 missed nights`,
    )
    .action(async (flags: { asOf?: string; catchUp: boolean; maxCatchUp: string }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const maxCatchUp = Number(flags.maxCatchUp);
      if (!Number.isSafeInteger(maxCatchUp) || maxCatchUp < 1) throw new UsageError(`--max-catch-up takes a number of nights, not "${flags.maxCatchUp}"`);
      const cfg = await config(ctx, true);
      const asOf = asOfOption(flags.asOf, cfg.config);
      const tuning = ingestTuning(ctx);
      const db = openStore(ctx);
      // Ahead of withLock's own handler, which releases the lock and lets the signal end the process.
      const onSignal = (sig: NodeJS.Signals) => interruptNight(db, sig);
      process.prependOnceListener('SIGINT', onSignal);
      process.prependOnceListener('SIGTERM', onSignal);
      try {
        const summary = await withLock(db, 'nightly', () =>
          runNightly(db, cfg, {
            asOf,
            catchUp: flags.catchUp,
            maxCatchUp,
            stdin: ctx.stdin,
            ingest: tuning,
            exporter: exporterFor(db, cfg, ctx.env),
            deliverer: async (partnerId, date) => {
              const partner = cfg.config.partners.find((p) => p.id === partnerId)!;
              const r = await deliverOne(db, cfg, partner, date);
              return { remote_path: r.remote_path, sent: r.sent };
            },
            onStep: ctx.interactive ? (s) => ctx.stderr.write(`\r\x1b[2Knightly ${asOf}: ${s}...`) : undefined,
          }),
        );
        if (ctx.interactive) ctx.stderr.write('\r\x1b[2K');
        if (ctx.json) printJson(ctx, summary);
        for (const st of summary.steps) if (!st.ok && st.error) warn(ctx, `${st.step}: ${st.error}`);
        for (const w of summary.ingest.warnings) warn(ctx, w);
        for (const n of summary.ingest.not_regular) {
          warn(ctx, `${n.path}: skipped, not a regular file (${n.type}); the inbox takes regular files only, and this one was not read`);
        }
        // One warning per partner however many nights were caught up, with the dates it covers.
        const notSafe = new Map<string, string[]>();
        for (const e of summary.exports) if (e.status === 'written' && e.safe_harbor === false) notSafe.set(e.partner, [...(notSafe.get(e.partner) ?? []), e.as_of]);
        for (const [partner, dates] of notSafe) {
          const when = dates.length === 1 ? dates[0] : `${dates[0]}..${dates[dates.length - 1]} (${dates.length} exports)`;
          warn(ctx, `export ${partner} ${when}: not HIPAA Safe Harbor (date precision finer than a year); it needs an expert determination before it is shared`);
        }
        const i = summary.ingest;
        const grants = summary.runs.reduce((n, r) => n + r.grants, 0);
        const exp = summary.exports.filter((e) => e.status === 'written').length;
        const line =
          `nightly ${asOf}: ${summary.status} (exit ${summary.exit}); ` +
          `ingest ${i.files} file(s), ${i.inserted} new row(s), ${i.rejected} rejected, ${i.field_problems} field problem(s), ${i.failed} failed` +
          `${i.not_regular.length ? `, ${i.not_regular.length} not regular skipped` : ''}; ` +
          `run ${summary.dates.length === 1 ? summary.dates[0] : `${summary.dates[0]}..${summary.dates[summary.dates.length - 1]}`}: ${grants} grant(s); ` +
          `${exp} export(s); ${summary.deliveries.filter((d) => d.status === 'delivered').length} deliver(ies)` +
          `${summary.deliveries.some((d) => d.status === 'failed') ? `, ${summary.deliveries.filter((d) => d.status === 'failed').length} failed (retried next night)` : ''}; pruned ${summary.prune?.events ?? 0} event(s), ${summary.prune?.rejects ?? 0} reject(s)`;
        if (!ctx.json) say(ctx, line);
        if (summary.exit !== EXIT.OK) throw new ReportedError(summary.exit);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        db.close();
      }
    });
}

function exporterFor(db: Db, cfg: LoadedConfig, env: NodeJS.ProcessEnv): Exporter {
  return async (partnerId, asOf) => {
    const partner = cfg.config.partners.find((p) => p.id === partnerId)!;
    const key = partnerKey(env, cfg.config.partners, partner, cfg.path);
    const r = await exportPartner(db, { config: cfg.config, partner, asOf, outbox: cfg.resolvePath(cfg.config.paths.outbox), key, toolVersion: VERSION });
    return { dir: r.dir, safe_harbor: r.safe_harbor };
  };
}
