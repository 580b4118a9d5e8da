import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { exportPartner } from '../../src/export/export.js';
import { openDb } from '../../src/store/db.js';
import { tempDir } from '../helpers.js';
import { type EventIn, type GrantIn, ingestEvents, ingestMembers, insertGrants, KEYS, makeWs, type MemberIn, type Ws } from './ws.js';

// grants.csv and activity.csv are written by the export's helper thread, on its own connection, when
// the built CLI runs, and by the export's own thread otherwise (here: the core run in-process from
// its TypeScript sources, where the helper's module cannot load). Both must write the same bytes,
// and the same summary, text that needs quoting and formula neutralisation included, at every date
// precision.

vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

const AS_OF = '2026-04-30';
const TRICKY = 'x,"quoted"'; // an event type that needs quotes in a CSV cell
const CONFIG = {
  timezone: 'UTC',
  paths: { grants: 'out/grants', outbox: 'out/outbox' },
  campaigns: [
    {
      id: 'spring-2026',
      start: '2026-03-01',
      end: '2026-05-31',
      rules: [
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, reward: { code: '=GIFT-5', amount_cents: 500, currency: 'USD' } },
        { id: 'ten-symptoms', type: 'event_count', event_type: '+symptom_logged', min_events: 10, reward: { code: 'GIFT-3', amount_cents: 300, currency: 'USD' } },
        { id: 'tricky', type: 'first_event', event_type: TRICKY, reward: { code: 'a,"b"', amount_cents: 100, currency: 'USD' } },
      ],
    },
  ],
  partners: [
    { id: 'acme', key_env: 'TEST_KEY_ACME', campaigns: ['spring-2026'] },
    { id: 'globex', key_env: 'TEST_KEY_GLOBEX', campaigns: ['spring-2026'], date_precision: 'month', safe_harbor: false, min_cell_size: 3 },
    { id: 'initech', key_env: 'TEST_KEY_ACME', campaigns: ['spring-2026'], date_precision: 'day', safe_harbor: false, require_consent: false },
  ],
};

const PARTNERS = ['acme', 'globex', 'initech'];
const DATA = ['members.csv', 'grants.csv', 'activity.csv', 'summary.csv'];
const TYPES = ['data_logged', '+symptom_logged', TRICKY, 'mood_logged'];

const members: MemberIn[] = [];
const events: EventIn[] = [];
const grants: GrantIn[] = [];
for (let i = 0; i < 300; i++) {
  const user_id = `helper-member-${i}`;
  members.push({
    user_id,
    birth_date: i % 17 === 0 ? undefined : `19${40 + (i % 60)}-0${1 + (i % 9)}-1${i % 10}`,
    zip: i % 13 === 0 ? undefined : `${10000 + ((i * 7919) % 89999)}`,
    state: ['CA', 'ny', ' TX ', 'Narnia'][i % 4],
    partner: PARTNERS[i % 3],
    share_consent: i % 5 !== 0,
  });
  for (let k = 0; k < 1 + (i % 6); k++) {
    events.push({ user_id, event_type: TYPES[(i + k) % TYPES.length]!, date: `2026-0${2 + (k % 4)}-${String(1 + ((i * 3 + k * 7) % 28)).padStart(2, '0')}` });
  }
  if (i % 4 === 0) grants.push({ campaign_id: 'spring-2026', rule_id: 'five-days', user_id, reward_code: '=GIFT-5', amount_cents: 500, earned_on: `2026-0${3 + (i % 2)}-15` });
  if (i % 7 === 0) grants.push({ campaign_id: 'spring-2026', rule_id: 'tricky', user_id, reward_code: 'a,"b"', amount_cents: 100, earned_on: '2026-03-02' });
}

let ws: Ws;

beforeAll(async () => {
  ws = makeWs(CONFIG, 'rewards-export-helper-');
  await ingestMembers(ws, members);
  await ingestEvents(ws, events);
  insertGrants(ws, grants);
}, 180_000);

describe('the files from the helper thread and from the export thread', () => {
  for (const partner of PARTNERS) {
    it(`are the same bytes (${partner})`, async () => {
      const r = await ws.cli(['export', '--partner', partner, '--as-of', AS_OF, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      const viaCli = ws.exportDir(partner, AS_OF);

      const cfg = loadConfig(ws.configPath, true, true);
      const p = cfg.config.partners.find((x) => x.id === partner)!;
      const outbox = join(tempDir('rewards-export-inproc-'), 'outbox');
      const db = openDb(ws.db, { mustExist: true });
      try {
        const key = Buffer.from(KEYS[p.key_env as keyof typeof KEYS], 'utf8');
        const res = await exportPartner(db, { config: cfg.config, partner: p, asOf: AS_OF, outbox, key, toolVersion: 'test' });
        expect(res.rows).toBeGreaterThan(0);
        for (const f of DATA) expect(readFileSync(join(res.dir, f), 'utf8'), `${partner}/${f}`).toBe(readFileSync(join(viaCli, f), 'utf8'));
      } finally {
        db.close();
      }
      const activity = readFileSync(join(viaCli, 'activity.csv'), 'utf8');
      expect(activity).toContain(`,"${TRICKY.replace(/"/g, '""')}",`);
      expect(activity).toContain(`,'+symptom_logged,`);
    });
  }
});
