/** `rewards status`: printing what src/status/status.ts collects. */
import type { Command } from 'commander';
import { collectStatus } from '../status/status.js';
import { todayInZone } from '../time/datetime.js';
import { escapeText } from '../util/escape.js';
import { config, contextFrom, openStore, printJson } from './context.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('the state of everything at a glance: last nightly, runs, pending batches, inbox, grant files, exports, campaigns')
    .addHelpText(
      'after',
      `
Examples:
  rewards status
  rewards status --json | jq .last_nightly.status`,
    )
    .action(async (_flags: unknown, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const cfg = await config(ctx, false);
      const db = openStore(ctx, { mustExist: true });
      try {
        const s = collectStatus(db, ctx.dbPath, cfg, todayInZone(cfg.config.timezone));
        if (ctx.json) {
          printJson(ctx, s);
          return;
        }
        const o: string[] = [];
        const mb = (s.database.bytes / 1048576).toFixed(1);
        o.push(`database ${s.database.path} (${mb} MiB): ${Object.entries(s.database.rows).map(([k, v]) => `${k} ${v}`).join(', ')}`);
        const n = s.last_nightly;
        o.push(n ? `last nightly: as of ${n.as_of}, ${n.status}${n.exit_code !== null ? ` (exit ${n.exit_code})` : ''}, started ${n.started_at}${n.finished_at ? `, finished ${n.finished_at}` : ''}` : 'last nightly: never');
        if (n?.summary) {
          for (const st of n.summary.steps as { step: string; ok: boolean; error?: string }[]) o.push(`  ${st.step}: ${st.ok ? 'ok' : `FAILED: ${st.error}`}`);
        }
        const li = s.last.ingest as { path?: string; status?: string; finished_at?: string } | null;
        o.push(`last ingest: ${li ? `${li.path} (${li.status}, ${li.finished_at ?? 'unfinished'})` : 'never'}`);
        o.push(`last run: ${s.last.run ? `run ${s.last.run.run_id} as of ${s.last.run.as_of}, ${s.last.run.grants} grant(s), ${s.last.run.status}` : 'never'}`);
        o.push(`last export: ${s.last.export ? `${s.last.export.partner_id} as of ${s.last.export.as_of}, ${s.last.export.dir}` : 'never'}`);
        o.push(`last prune: ${s.last.prune ? `${s.last.prune.pruned_at}, ${s.last.prune.events_deleted} event(s), ${s.last.prune.rejects_deleted} reject(s)` : 'never'}`);
        o.push(`unfinished batches: ${s.batches_unfinished.length ? '' : 'none'}`);
        for (const b of s.batches_unfinished) o.push(`  batch ${b.batch_id} ${b.path}: ${b.status}${b.error ? `: ${b.error}` : ''}`);
        const waiting = s.inbox_waiting.members.length + s.inbox_waiting.events.length;
        o.push(`inbox: ${waiting} file(s) waiting`);
        for (const f of [...s.inbox_waiting.members, ...s.inbox_waiting.events]) o.push(`  ${f}`);
        o.push(`grant files (latest ${s.grant_files.length}):`);
        for (const g of s.grant_files) o.push(`  ${g.file}: ${g.grants} grant(s)${g.present ? '' : ' (MISSING: the next run rewrites it)'}`);
        o.push(`exports: ${s.exports.length ? '' : 'none'}`);
        for (const e of s.exports) o.push(`  ${e.partner_id}: as of ${e.as_of}, ${e.members} member(s), ${e.dir}`);
        o.push(`deliveries: ${s.deliveries.last.length ? '' : 'none'}`);
        for (const d of s.deliveries.last) {
          o.push(`  ${d.partner_id}: ${d.as_of} to ${d.host}:${d.remote_path}, ${d.status}${d.finished_at ? ` ${d.finished_at}` : ''}${d.error ? ` (${d.error})` : ''}`);
        }
        if (s.deliveries.undelivered.length) o.push(`  undelivered: ${s.deliveries.undelivered.map((u) => `${u.partner_id} ${u.as_of}`).join(', ')}`);
        o.push(`releases (what each partner holds): ${s.releases.length ? '' : 'none'}`);
        for (const r of s.releases) {
          o.push(`  ${r.partner_id}: ${r.rule === 'period' ? `release ${r.period}` : `as of ${r.period}`}, data through ${r.data_through}, first exported as of ${r.first_as_of}, ${r.members} member(s)`);
        }
        o.push(`campaigns${s.campaigns[0] ? ` as of ${s.campaigns[0].as_of}` : ''}: ${s.campaigns.map((c) => `${c.id} ${c.phase.replace('_', ' ')}`).join(', ') || 'none'}`);
        // File names and errors come from input: one line each, control characters escaped.
        ctx.stdout.write(o.map(escapeText).join('\n') + '\n');
      } finally {
        db.close();
      }
    });
}
