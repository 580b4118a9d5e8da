/**
 * `rewards deliver` on PostgreSQL, against a real sshd: the delivery is recorded in the server's
 * `deliveries` table, lands complete and verifiable, and a rerun sends nothing twice.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEvents, loadMembers, Workspace } from '../workspace.js';
import { deliveryConfig, SSHD, SSHD_HOWTO, TestSshd } from '../deliver/sshd.js';
import { PG_BIN, PG_HOWTO, TestPostgres } from './cluster.js';

if (!PG_BIN || !SSHD) console.warn(`skipping the PostgreSQL delivery test: ${!PG_BIN ? PG_HOWTO : SSHD_HOWTO}`);

const AS_OF = '2026-12-31';

describe.skipIf(!PG_BIN || !SSHD)('PostgreSQL: deliver', () => {
  const pg = new TestPostgres();
  const sshd = new TestSshd();
  beforeAll(async () => {
    pg.start();
    await sshd.start();
  });
  afterAll(async () => {
    await sshd.stop();
    pg.stop();
  });

  it('records the delivery in PostgreSQL, lands it verifiable, and does not send it twice', async () => {
    const config = deliveryConfig(sshd.delivery());
    const ws = new Workspace({ prefix: 'rewards-pg-deliver-', config, db: pg.createDatabase('deliver') });
    await loadMembers(ws, Array.from({ length: 30 }, (_, i) => ({ user_id: `d${i}`, partner: 'acme', share_consent: true, zip: '02139', birth_date: '1990-01-01' })));
    await loadEvents(ws, Array.from({ length: 30 }, (_, i) => ({ user_id: `d${i}`, event_type: 'birth_reported', date: '2026-03-05' })));
    ws.ok(['run', '--as-of', '2026-03-31', '--quiet']);
    const first = ws.ok(['--json', 'deliver', '--partner', 'acme', '--as-of', AS_OF]);
    expect(first).toMatchObject({ partner: 'acme', as_of: AS_OF, remote_path: `${sshd.remote}/${AS_OF}`, sent: true });
    const remote = join(sshd.remote, AS_OF);
    expect(readdirSync(remote).sort()).toEqual(['SHA256SUMS', '_SUCCESS', 'activity.csv', 'grants.csv', 'manifest.json', 'members.csv', 'summary.csv']);
    expect(spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: remote }).status).toBe(0);
    expect(pg.psql('deliver', 'SELECT partner_id, as_of, status, remote_path FROM deliveries')).toBe(`acme\t${AS_OF}\tdelivered\t${remote}\n`);
    const again = ws.ok(['--json', 'deliver', '--partner', 'acme', '--as-of', AS_OF]);
    expect(again).toMatchObject({ sent: false });
    expect(pg.psql('deliver', 'SELECT count(*) FROM deliveries')).toBe('1\n');
    ws.cleanup();
  });
});
