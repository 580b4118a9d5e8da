import { createHash, createHmac } from 'node:crypto';
import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { parseJsonOutput, sqlite, tempDir } from '../helpers.js';
import { allFiles, type EventIn, type GrantIn, hmac, loadEvents, loadMembers, insertGrants, KEYS, makeWs, type MemberIn, readCsv, sha256sumCheck, type Workspace } from '../workspace.js';

// Exact file modes need a known umask; the CLI inherits ours.
process.umask(0o022);
// Each test runs the CLI as a subprocess, some several times: more than vitest's 5 s on a busy machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

// acme is a Safe Harbor (year) partner: its release carries data up to the end of the last complete
// year, so it is exported as of a year end; globex (month precision, expert determination) as of any day.
const AS_OF = '2026-12-31';
const GLOBEX_AS_OF = '2026-04-30';
const PKG_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const CONFIG = {
  timezone: 'UTC',
  paths: { grants: 'out/grants', outbox: 'out/outbox' },
  campaigns: [
    {
      id: 'spring-2026',
      start: '2026-03-01',
      end: '2026-05-31',
      rules: [
        { id: 'birth', type: 'first_event', event_type: 'birth_reported', reward: { code: 'GIFT-25', amount_cents: 2500, currency: 'USD' } },
        // A reward code and an event type that a spreadsheet would run as formulas.
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, repeat: true, max_per_user: 3, reward: { code: '=GIFT-5', amount_cents: 500, currency: 'USD' } },
        { id: 'ten-symptoms', type: 'event_count', event_type: '+symptom_logged', min_events: 10, reward: { code: 'GIFT-3', amount_cents: 300, currency: 'USD' } },
      ],
    },
    {
      id: 'other-campaign',
      start: '2026-03-01',
      end: '2026-05-31',
      rules: [{ id: 'x', type: 'first_event', event_type: 'other_event', reward: { code: 'GIFT-1', amount_cents: 100, currency: 'USD' } }],
    },
  ],
  partners: [
    // k_anonymity 1: these tests pin the Safe Harbor rules row by row (test/export/release-privacy.test.ts covers k).
    { id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['spring-2026'], k_anonymity: 1 },
    {
      id: 'globex',
      key_env: 'REWARDS_KEY_GLOBEX',
      campaigns: ['spring-2026'],
      date_precision: 'month',
      safe_harbor: false,
      min_cell_size: 3,
      require_consent: false,
    },
  ],
};

// Distinctive personal data: none of these strings may appear anywhere in an export folder. The ids,
// names and emails contain letters past "f", so they cannot occur inside a hex pseudonym by chance.
const pad = (i: number) => String(i).padStart(3, '0');
function member(i: number, zip5: string, birth: string, extra: Partial<MemberIn> = {}): MemberIn {
  return {
    user_id: `zqx-member-${pad(i)}`,
    email: `wombat.quill${pad(i)}@zanzibar-mail.example`,
    first_name: `Xanthippe${String.fromCharCode(103 + (i % 19))}`,
    last_name: `Quillfeather${pad(i)}`,
    birth_date: birth,
    zip: `${zip5}-${4000 + i}`,
    state: 'MA',
    partner: 'acme',
    share_consent: true,
    ...extra,
  };
}

const members: MemberIn[] = [];
// 30 in 021, 12 in 606, 3 in 100, 2 in a restricted area (036 -> 000), 1 without zip or birth date.
for (let i = 1; i <= 30; i++) members.push(member(i, '02139', `19${70 + (i % 29)}-0${1 + (i % 9)}-1${i % 10}`));
for (let i = 31; i <= 42; i++) members.push(member(i, '60614', `1985-11-${10 + (i - 31)}`, { state: 'il' }));
for (let i = 43; i <= 45; i++) members.push(member(i, '10013', `1992-07-2${i - 43}`, { state: 'NY' }));
for (let i = 46; i <= 47; i++) members.push(member(i, '03601', `1988-03-0${i - 45}`, { state: 'NH' }));
members.push(member(48, '', '', { zip: undefined, birth_date: undefined, state: '=HYPERLINK("http://evil.example")' }));
// Ages at the as-of date: 96 -> 80+; 80 on the as-of date -> 80+; 79 all year -> 1947.
members[0]!.birth_date = '1930-06-15';
members[1]!.birth_date = '1946-12-31';
members[2]!.birth_date = '1947-01-01';
// Without consent, with grants and events of their own.
for (let i = 49; i <= 52; i++) members.push(member(i, '02139', '1980-05-05', { share_consent: false }));
// Another partner's members, and members of no partner.
for (let i = 53; i <= 57; i++) members.push(member(i, '94110', '1990-01-0' + (i - 52), { partner: 'globex', share_consent: i % 2 === 0 }));
for (let i = 58; i <= 59; i++) members.push(member(i, '30301', '1975-10-10', { partner: undefined }));

const id = (i: number) => `zqx-member-${pad(i)}`;
const acmeConsenting = members.filter((m) => m.partner === 'acme' && m.share_consent).map((m) => m.user_id);

const events: EventIn[] = [
  // member 1: data_logged on 3 campaign days (4 events), plus days outside [start, as-of]; symptoms; an unrelated type.
  { user_id: id(1), event_type: 'data_logged', date: '2026-03-01' },
  { user_id: id(1), event_type: 'data_logged', date: '2026-03-01' },
  { user_id: id(1), event_type: 'data_logged', date: '2026-03-02' },
  { user_id: id(1), event_type: 'data_logged', date: '2026-04-05' },
  { user_id: id(1), event_type: 'data_logged', date: '2026-02-28' },
  { user_id: id(1), event_type: 'data_logged', date: '2026-06-01' },
  { user_id: id(1), event_type: '+symptom_logged', date: '2026-04-10' },
  { user_id: id(1), event_type: '+symptom_logged', date: '2026-04-10' },
  { user_id: id(1), event_type: 'mood_logged', date: '2026-04-10' },
  // a member without consent
  { user_id: id(49), event_type: 'data_logged', date: '2026-03-03' },
  // a globex member, in two months
  { user_id: id(53), event_type: 'data_logged', date: '2026-03-03' },
  { user_id: id(53), event_type: 'data_logged', date: '2026-04-04' },
  { user_id: id(53), event_type: 'data_logged', date: '2026-04-05' },
];
for (let i = 2; i <= 20; i++) events.push({ user_id: id(i), event_type: 'data_logged', date: `2026-03-${10 + (i % 15)}` });

const grants: GrantIn[] = [];
const g = (rule: string, i: number, earned_on: string, campaign_id = 'spring-2026') => {
  const r = { birth: ['GIFT-25', 2500], 'five-days': ['=GIFT-5', 500], 'ten-symptoms': ['GIFT-3', 300], x: ['GIFT-1', 100] }[rule]!;
  grants.push({ campaign_id, rule_id: rule, user_id: id(i), reward_code: r[0] as string, amount_cents: r[1] as number, earned_on });
};
for (let i = 1; i <= 30; i++) g('birth', i, `2026-03-${String(1 + (i % 28)).padStart(2, '0')}`); // 30 members
for (let i = 31; i <= 42; i++) g('five-days', i, '2026-03-20'); // 12 members ...
for (let i = 31; i <= 33; i++) g('five-days', i, '2026-04-02'); // ... 15 grants
for (let i = 43; i <= 46; i++) g('ten-symptoms', i, '2026-04-15'); // 4 members: small
g('birth', 49, '2026-03-05'); // no consent
g('birth', 53, '2026-03-05'); // globex
g('five-days', 54, '2026-04-20'); // globex
g('ten-symptoms', 1, '2027-01-10'); // after the as-of date
g('x', 2, '2026-03-05', 'other-campaign'); // not a partner campaign

let ws: Workspace;
let dir: string;
let json: { partner: string; as_of: string; dir: string; files: { name: string; rows: number; sha256: string }[]; members: number; excluded_no_consent: number; safe_harbor: boolean };

beforeAll(async () => {
  ws = makeWs(CONFIG);
  await loadMembers(ws, members);
  await loadEvents(ws, events);
  insertGrants(ws, grants);
  const r = await ws.cli(['export', '--partner', 'acme', '--as-of', AS_OF, '--json']);
  expect(r.code, r.stderr).toBe(0);
  json = parseJsonOutput(r);
  dir = ws.exportDir('acme', AS_OF);
}, 120_000);

describe('rewards export: the folder', () => {
  it('prints the documented --json object', () => {
    expect(Object.keys(json).sort()).toEqual([
      'as_of',
      'data_through',
      'dir',
      'excluded_no_consent',
      'files',
      'k_anonymity',
      'key_fingerprint',
      'members',
      'partner',
      'reissue',
      'release',
      'safe_harbor',
    ]);
    expect(json).toMatchObject({ partner: 'acme', as_of: AS_OF, dir, members: acmeConsenting.length, excluded_no_consent: 4, safe_harbor: true });
    expect(json).toMatchObject({ data_through: AS_OF, release: '2026', reissue: false, k_anonymity: { k: 1, generalised_rows: 0, below_k: 0 } });
    expect(json.files.map((f) => f.name)).toEqual(['members.csv', 'grants.csv', 'activity.csv', 'summary.csv']);
  });

  it('holds exactly the documented files, with modes 0640 and folders 0750', () => {
    expect(readdirSync(dir).sort()).toEqual(['SHA256SUMS', '_SUCCESS', 'activity.csv', 'grants.csv', 'manifest.json', 'members.csv', 'summary.csv']);
    for (const f of readdirSync(dir)) expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe('640');
    expect((statSync(dir).mode & 0o777).toString(8)).toBe('750');
    expect((statSync(join(ws.outbox, 'acme')).mode & 0o777).toString(8)).toBe('750');
    expect(readFileSync(join(dir, '_SUCCESS'))).toHaveLength(0);
  });

  it('contains no id, email, name, full ZIP or birth date of any member, in any byte', () => {
    const files = allFiles(ws.outbox);
    expect(files.size).toBeGreaterThanOrEqual(7);
    const needles: string[] = [];
    for (const m of members) {
      needles.push(m.user_id, m.email!, m.first_name!, m.last_name!);
      if (m.zip) needles.push(m.zip, m.zip.replace('-', ''));
      if (m.birth_date) needles.push(m.birth_date);
    }
    needles.push('HYPERLINK', 'zqx-member', 'zanzibar', 'Quillfeather');
    for (const [path, bytes] of files) {
      const text = bytes.toString('latin1');
      for (const n of needles) expect(text.includes(n), `${n} found in ${path}`).toBe(false);
      // Five-digit ZIPs: anywhere outside the hex pseudonyms (where digits can occur by chance).
      const outsideHex = text.replace(/[0-9a-f]{64}/g, ' ');
      for (const z of ['02139', '60614', '10013', '03601', '94110', '30301']) expect(outsideHex.includes(z), `${z} found in ${path}`).toBe(false);
    }
  });

  it('pseudonymises members with the HMAC of their user id, keeps consenting members only', () => {
    const rows = readCsv(join(dir, 'members.csv'));
    expect(rows[0]).toEqual(['member', 'birth_year', 'zip3', 'state']);
    const got = rows.slice(1).map((r) => r[0]);
    expect(new Set(got)).toEqual(new Set(acmeConsenting.map((u) => hmac(KEYS.REWARDS_KEY_ACME, u))));
    expect(got).toEqual([...got].sort()); // pseudonym order: nothing about ids or join order
    for (let i = 49; i <= 52; i++) {
      const p = hmac(KEYS.REWARDS_KEY_ACME, id(i));
      for (const [path, bytes] of allFiles(ws.outbox)) expect(bytes.toString('latin1').includes(p), `${id(i)} in ${path}`).toBe(false);
    }
  });

  it('generalises: zip3 with restricted areas as 000 without a state, birth years top-coded at 80+, USPS states only', () => {
    const rows = new Map(readCsv(join(dir, 'members.csv')).slice(1).map((r) => [r[0], r.slice(1)]));
    const of = (i: number) => rows.get(hmac(KEYS.REWARDS_KEY_ACME, id(i)))!;
    expect(of(1)).toEqual(['80+', '021', 'MA']);
    expect(of(2)).toEqual(['80+', '021', 'MA']);
    expect(of(3)).toEqual(['1947', '021', 'MA']);
    expect(of(31)).toEqual(['1985', '606', 'IL']);
    expect(of(43)).toEqual(['1992', '100', 'NY']);
    expect(of(46)).toEqual(['1988', '000', '']);
    expect(of(47)).toEqual(['1988', '000', '']);
    expect(of(48)).toEqual(['', '', '']);
  });

  it("grants: the population's grants in the partner's campaigns up to the as-of date, dates as years", () => {
    const rows = readCsv(join(dir, 'grants.csv'));
    expect(rows[0]).toEqual(['member', 'campaign_id', 'rule_id', 'reward_code', 'amount_cents', 'currency', 'earned_period']);
    expect(rows).toHaveLength(1 + 30 + 15 + 4);
    expect(new Set(rows.slice(1).map((r) => r[6]))).toEqual(new Set(['2026']));
    expect(new Set(rows.slice(1).map((r) => r[1]))).toEqual(new Set(['spring-2026']));
    const m31 = rows.filter((r) => r[0] === hmac(KEYS.REWARDS_KEY_ACME, id(31)));
    expect(m31).toEqual([
      [hmac(KEYS.REWARDS_KEY_ACME, id(31)), 'spring-2026', 'five-days', "'=GIFT-5", '500', 'USD', '2026'],
      [hmac(KEYS.REWARDS_KEY_ACME, id(31)), 'spring-2026', 'five-days', "'=GIFT-5", '500', 'USD', '2026'],
    ]);
    // earned 2026-05-10, after the as-of date
    expect(rows.some((r) => r[0] === hmac(KEYS.REWARDS_KEY_ACME, id(1)) && r[2] === 'ten-symptoms')).toBe(false);
  });

  it('activity: active days and events per member, campaign, period and rule event type within [start, as-of]', () => {
    const rows = readCsv(join(dir, 'activity.csv'));
    expect(rows[0]).toEqual(['member', 'campaign_id', 'period', 'event_type', 'active_days', 'events']);
    const m1 = rows.filter((r) => r[0] === hmac(KEYS.REWARDS_KEY_ACME, id(1)));
    expect(m1).toEqual([
      [hmac(KEYS.REWARDS_KEY_ACME, id(1)), 'spring-2026', '2026', "'+symptom_logged", '1', '2'],
      [hmac(KEYS.REWARDS_KEY_ACME, id(1)), 'spring-2026', '2026', 'data_logged', '3', '4'],
    ]);
    expect(rows).toHaveLength(1 + 1 + 19 + 1); // header, member 1 (2 rows), members 2..20
    expect(rows.slice(1).map((r) => r[0])).toEqual(rows.slice(1).map((r) => r[0]).sort());
  });

  it('summary: small cells and their complements are empty and flagged', () => {
    const rows = readCsv(join(dir, 'summary.csv'));
    expect(rows[0]).toEqual(['table', 'campaign_id', 'currency', 'rule_id', 'period', 'zip3', 'birth_year_band', 'members', 'grants', 'amount_cents', 'suppressed']);
    const grantRows = rows.filter((r) => r[0] === 'grants').map((r) => [r[3], r[4], ...r.slice(7)]);
    expect(grantRows).toEqual([
      ['birth', '2026', '30', '30', '75000', 'false'],
      ['birth', '(total)', '30', '30', '75000', 'false'],
      // 12 members and 15 grants are not small, but hidden: with ten-symptoms (4) hidden, the period
      // total would give it away, so the smallest other cell of the column goes too, then its row total.
      ['five-days', '2026', '', '', '', 'true'],
      ['five-days', '(total)', '', '', '', 'true'],
      ['ten-symptoms', '2026', '', '', '', 'true'],
      ['ten-symptoms', '(total)', '', '', '', 'true'],
      // With the rewards known (500 and 300 cents), the totals' amounts would solve the hidden cells:
      // 500 a + 300 b = 8700 and a + b = 19 give a = 15. The audit hides the amounts of the totals.
      ['(total)', '2026', '46', '49', '', 'amount'],
      ['(total)', '(total)', '46', '49', '', 'amount'],
    ]);
    const mem = new Map(rows.filter((r) => r[0] === 'members').map((r) => [`${r[5]}/${r[6]}`, [r[7], r[10]]]));
    expect(mem.get('(total)/(total)')).toEqual([String(acmeConsenting.length), 'false']);
    expect(mem.get('000/(total)')).toEqual(['', 'true']); // 2 members
    expect(mem.get('100/(total)')).toEqual(['', 'true']); // 3 members
    // 606 is one cell (12 in the 1980s): shown, it would pin the hidden cells of the 1980s column to
    // less than 5 apart given the column total, so the audit hides it and its row total.
    expect(mem.get('606/(total)')).toEqual(['', 'true']);
    expect(mem.get('606/1980-1989')).toEqual(['', 'true']);
    expect(mem.get('021/(total)')).toEqual(['30', 'false']);
    expect(mem.get('(total)/1980-1989')).toEqual(['24', 'false']);
    expect(mem.get('021/80+')).toEqual(['', 'true']);
    // No row or column of the members table is left with exactly one hidden cell.
    for (const col of [5, 6]) {
      const hidden = new Map<string, number>();
      for (const r of rows.filter((x) => x[0] === 'members' && x[10] === 'true')) hidden.set(r[col]!, (hidden.get(r[col]!) ?? 0) + 1);
      for (const [k, n] of hidden) expect(n, `${k}`).toBeGreaterThanOrEqual(2);
    }
  });

  it('manifest: generation time, tool version, files, precision, Safe Harbor, key fingerprint, consent count', () => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({
      partner: 'acme',
      as_of: AS_OF,
      tool: { name: 'rewards', version: PKG_VERSION },
      date_precision: 'year',
      safe_harbor: true,
      expert_determination_required: false,
      key_fingerprint: createHmac('sha256', Buffer.from(KEYS.REWARDS_KEY_ACME!, 'utf8')).update('rewards partner key fingerprint v1').digest('hex').slice(0, 16),
      min_cell_size: 11,
      require_consent: true,
      members: acmeConsenting.length,
      excluded_no_consent: 4,
    });
    expect(Date.parse(m.generated_at)).toBeGreaterThan(Date.now() - 600_000);
    expect(JSON.stringify(m)).not.toContain(KEYS.REWARDS_KEY_ACME);
    for (const f of m.files) {
      const bytes = readFileSync(join(dir, f.name));
      expect(f.bytes).toBe(bytes.length);
      expect(f.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(f.rows).toBe(bytes.toString('utf8').split('\n').length - 2); // header and final newline
    }
    expect(m.files.map((f: { name: string; sha256: string }) => [f.name, f.sha256])).toEqual(json.files.map((f) => [f.name, f.sha256]));
  });

  it('SHA256SUMS passes `sha256sum -c --strict` and fails once a byte changes', () => {
    const ok = sha256sumCheck(dir);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out.trim().split('\n').sort()).toEqual(['activity.csv: OK', 'grants.csv: OK', 'manifest.json: OK', 'members.csv: OK', 'summary.csv: OK']);
    const copy = join(tempDir(), 'copy');
    cpSync(dir, copy, { recursive: true, dereference: true });
    const f = join(copy, 'grants.csv');
    const bytes = readFileSync(f);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
    writeFileSync(f, bytes);
    const bad = sha256sumCheck(copy);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain('grants.csv: FAILED');
  });

  it('is a link to a complete hidden version folder, and the exports table records it', async () => {
    expect(lstatSync(dir).isSymbolicLink()).toBe(true);
    expect(readlinkSync(dir)).toMatch(new RegExp(`^\\.${AS_OF}\\.`));
    expect(readdirSync(join(ws.outbox, 'acme')).sort()).toEqual([readlinkSync(dir), AS_OF].sort());
    const rows = sqlite<{ partner_id: string; as_of: string; dir: string; members: number; rows: number; manifest_sha256: string }>(ws.db, 'SELECT * FROM exports');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ partner_id: 'acme', as_of: AS_OF, dir, members: acmeConsenting.length, rows: json.files.reduce((n, f) => n + f.rows, 0) });
    expect(rows[0]!.manifest_sha256).toBe(createHash('sha256').update(readFileSync(join(dir, 'manifest.json'))).digest('hex'));
  });
});

describe('rewards export: reruns and partners', () => {
  it('a re-export replaces the folder with byte-identical data files', async () => {
    const before = Object.fromEntries(['members.csv', 'grants.csv', 'activity.csv', 'summary.csv'].map((f) => [f, readFileSync(join(dir, f))]));
    const oldTarget = readlinkSync(dir);
    await new Promise((r) => setTimeout(r, 20)); // a different generation time
    const r = await ws.cli(['export', '--partner', 'acme', '--as-of', AS_OF, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(readlinkSync(dir)).not.toBe(oldTarget);
    expect(existsSync(join(ws.outbox, 'acme', oldTarget))).toBe(false); // the replaced version is gone
    for (const [f, bytes] of Object.entries(before)) expect(readFileSync(join(dir, f)).equals(bytes), f).toBe(true);
    expect(sha256sumCheck(dir).code).toBe(0);
  });

  it('gives unrelated pseudonyms at another partner; month precision is flagged as not Safe Harbor', async () => {
    // Member 53 belongs to globex: its pseudonym there is keyed with globex's key.
    const r = await ws.cli(['export', '--partner', 'globex', '--as-of', GLOBEX_AS_OF, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('NOT HIPAA Safe Harbor');
    const out = parseJsonOutput<{ safe_harbor: boolean; members: number; excluded_no_consent: number }>(r);
    expect(out).toMatchObject({ safe_harbor: false, members: 5, excluded_no_consent: 0 }); // require_consent: false
    const gdir = ws.exportDir('globex', GLOBEX_AS_OF);
    const globexMembers = readCsv(join(gdir, 'members.csv')).slice(1).map((x) => x[0]);
    expect(new Set(globexMembers)).toEqual(new Set([53, 54, 55, 56, 57].map((i) => hmac(KEYS.REWARDS_KEY_GLOBEX, id(i)))));
    const activity = readCsv(join(gdir, 'activity.csv')).slice(1);
    expect(activity.filter((x) => x[0] === hmac(KEYS.REWARDS_KEY_GLOBEX, id(53))).map((x) => x.slice(2))).toEqual([
      ['2026-03', 'data_logged', '1', '1'],
      ['2026-04', 'data_logged', '2', '2'],
    ]);
    const m = JSON.parse(readFileSync(join(gdir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ safe_harbor: false, expert_determination_required: true, date_precision: 'month' });
    expect(m.de_identification).toContain('expert determination');

    // The same member moved to acme gets an unrelated pseudonym there.
    await loadMembers(ws, [member(53, '94110', '1990-01-01', { partner: 'acme' })], 'members-moved.csv');
    const r2 = await ws.cli(['export', '--partner', 'acme', '--as-of', '2027-12-31', '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    const acme = readCsv(join(ws.exportDir('acme', '2027-12-31'), 'members.csv')).map((x) => x[0]);
    expect(acme).toContain(hmac(KEYS.REWARDS_KEY_ACME, id(53)));
    expect(acme).not.toContain(hmac(KEYS.REWARDS_KEY_GLOBEX, id(53)));
    expect(globexMembers).not.toContain(hmac(KEYS.REWARDS_KEY_ACME, id(53)));
  });

  it('--as-of defaults to yesterday in the config timezone', async () => {
    const r = await ws.cli(['export', '--partner', 'acme', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10); // config timezone is UTC
    expect(parseJsonOutput<{ as_of: string }>(r).as_of).toBe(yesterday);
  });
});

describe('rewards export: refusals touch nothing', () => {
  const bad = (name: string, args: string[], env: Record<string, string | undefined>, code: number, mention: string) =>
    it(name, async () => {
      const w = makeWs(CONFIG, 'rewards-export-refuse-');
      const r = await w.cli(['export', ...args], { env });
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(mention);
      expect(r.stdout).toBe('');
      for (const k of Object.values(KEYS)) expect(r.stderr).not.toContain(k);
      expect(existsSync(join(w.dir, 'out'))).toBe(false);
      expect(existsSync(w.db)).toBe(false);
    });

  bad('an unknown partner exits 64', ['--partner', 'initech', '--as-of', AS_OF], {}, 64, 'acme, globex');
  bad('a path as partner exits 64', ['--partner', '../x', '--as-of', AS_OF], {}, 64, 'is not a partner');
  bad('a bad --as-of exits 64', ['--partner', 'acme', '--as-of', '2026-02-30'], {}, 64, '--as-of');
  bad('a missing key exits 78', ['--partner', 'acme', '--as-of', AS_OF], { REWARDS_KEY_ACME: undefined }, 78, 'REWARDS_KEY_ACME is not set');
  bad('a short key exits 78', ['--partner', 'acme', '--as-of', AS_OF], { REWARDS_KEY_ACME: Buffer.alloc(31, 9).toString('base64') }, 78, 'at least 32');
  bad('a missing database exits 66', ['--partner', 'acme', '--as-of', AS_OF], {}, 66, 'rewards.db');

  it('a config without partners exits 78', async () => {
    const w = makeWs({ timezone: 'UTC' }, 'rewards-export-refuse-');
    const r = await w.cli(['export', '--partner', 'acme']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('no partners configured');
  });
});

describe('rewards keygen', () => {
  it('prints a fresh base64 key of 32 random bytes', async () => {
    const w = makeWs({}, 'rewards-keygen-');
    const a = await w.cli(['keygen']);
    const b = await w.cli(['keygen']);
    expect(a.code).toBe(0);
    const key = a.stdout.trim();
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(b.stdout.trim()).not.toBe(key);
    expect(existsSync(w.db)).toBe(false);
  });
});

describe('rewards export after rewards run', () => {
  it("exports the grants a real run recorded, under the members' pseudonyms", async () => {
    const config = {
      timezone: 'America/New_York',
      paths: { grants: 'out/grants', outbox: 'out/outbox' },
      campaigns: [
        {
          id: 'streaks',
          start: '2026-03-01',
          end: '2026-03-31',
          rules: [{ id: 'three-days', type: 'streak', event_type: 'data_logged', days: 3, reward: { code: 'GIFT-3D', amount_cents: 300, currency: 'USD' } }],
        },
      ],
      partners: [{ id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['streaks'], min_cell_size: 2, date_precision: 'month', safe_harbor: false }],
    };
    const w = makeWs(config, 'rewards-export-run-');
    await loadMembers(w, [
      { user_id: 'run-a', partner: 'acme', share_consent: true, zip: '60614', birth_date: '1980-02-02' },
      { user_id: 'run-b', partner: 'acme', share_consent: true, zip: '60614', birth_date: '1981-02-02' },
      { user_id: 'run-c', partner: 'acme', share_consent: false },
    ]);
    const ev: EventIn[] = [];
    for (const u of ['run-a', 'run-b', 'run-c']) for (const d of ['2026-03-02', '2026-03-03', '2026-03-04']) ev.push({ user_id: u, event_type: 'data_logged', date: d });
    await loadEvents(w, ev);
    const run = await w.cli(['run', '--as-of', '2026-03-31', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonOutput<{ grants: number }>(run).grants).toBe(3);
    const r = await w.cli(['export', '--partner', 'acme', '--as-of', '2026-03-31', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = readCsv(join(w.exportDir('acme', '2026-03-31'), 'grants.csv')).slice(1);
    expect(rows.sort()).toEqual(
      ['run-a', 'run-b'].map((u) => [hmac(KEYS.REWARDS_KEY_ACME, u), 'streaks', 'three-days', 'GIFT-3D', '300', 'USD', '2026-03']).sort(),
    );
    const summary = readCsv(join(w.exportDir('acme', '2026-03-31'), 'summary.csv'));
    expect(summary.find((x) => x[0] === 'grants' && x[3] === '(total)' && x[4] === '(total)')!.slice(7)).toEqual(['2', '2', '600', 'false']);
  });
});

describe('rewards export: day precision, and a partner without campaigns', () => {
  it('day precision: one activity row per member, campaign, event type and local date; nothing outside the window', async () => {
    const config = {
      timezone: 'UTC',
      campaigns: [
        {
          id: 'march',
          start: '2026-03-01',
          end: '2026-03-31',
          rules: [{ id: 'logs', type: 'event_count', event_type: 'data_logged', min_events: 50, reward: { code: 'G', amount_cents: 1, currency: 'USD' } }],
        },
      ],
      partners: [
        { id: 'daily', key_env: 'REWARDS_KEY_ACME', campaigns: ['march'], date_precision: 'day', safe_harbor: false },
        { id: 'bare', key_env: 'REWARDS_KEY_GLOBEX' },
      ],
    };
    const w = makeWs(config, 'rewards-export-day-');
    await loadMembers(w, [
      { user_id: 'day-a', partner: 'daily', share_consent: true },
      { user_id: 'bare-a', partner: 'bare', share_consent: true, zip: '60614' },
    ]);
    await loadEvents(w, [
      { user_id: 'day-a', event_type: 'data_logged', date: '2026-02-28' },
      { user_id: 'day-a', event_type: 'data_logged', date: '2026-03-01' },
      { user_id: 'day-a', event_type: 'data_logged', date: '2026-03-01' },
      { user_id: 'day-a', event_type: 'data_logged', date: '2026-03-09' },
      { user_id: 'day-a', event_type: 'data_logged', date: '2026-03-10' },
      { user_id: 'day-a', event_type: 'other', date: '2026-03-09' },
    ]);
    const r = await w.cli(['export', '--partner', 'daily', '--as-of', '2026-03-09']);
    expect(r.code, r.stderr).toBe(0);
    const m = hmac(KEYS.REWARDS_KEY_ACME, 'day-a');
    expect(readCsv(join(w.exportDir('daily', '2026-03-09'), 'activity.csv')).slice(1)).toEqual([
      [m, 'march', '2026-03-01', 'data_logged', '1', '2'],
      [m, 'march', '2026-03-09', 'data_logged', '1', '1'],
    ]);

    const b = await w.cli(['export', '--partner', 'bare', '--as-of', '2026-03-09', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const out = parseJsonOutput<{ files: { name: string; rows: number }[]; members: number }>(b);
    expect(out.members).toBe(1);
    expect(out.files.map((f) => [f.name, f.rows])).toEqual([
      ['members.csv', 1],
      ['grants.csv', 0],
      ['activity.csv', 0],
      ['summary.csv', 4], // members: unknown/unknown, unknown/(total), (total)/unknown, (total)/(total), all hidden
    ]);
    // One member cannot be 5-anonymous: the row is generalised as far as it goes, and the manifest says so.
    expect(readCsv(join(w.exportDir('bare', '2026-03-09'), 'members.csv'))).toEqual([
      ['member', 'birth_year', 'zip3', 'state'],
      [hmac(KEYS.REWARDS_KEY_GLOBEX, 'bare-a'), '', '', ''],
    ]);
    expect(JSON.parse(readFileSync(join(w.exportDir('bare', '2026-03-09'), 'manifest.json'), 'utf8')).k_anonymity).toEqual({ k: 5, generalised_rows: 1, below_k: 1 });
    expect(sha256sumCheck(w.exportDir('bare', '2026-03-09')).code).toBe(0);
  });
});
