#!/usr/bin/env node
// Deterministic synthetic exports for the benchmark (and for anyone who needs realistic volume).
//
//   node test/bench/generate.mjs [--events N] [--members M] [--days D] [--start YYYY-MM-DD]
//                                [--seed S] [--out DIR] [--extra-day] [--force]
//
// Writes into DIR (default .bench/data/<parameters>/):
//   events.csv, events.ndjson   the same N records in both formats
//                               (event_id,user_id,event_type,occurred_at,timezone,properties)
//   members.csv                 user_id,email,first_name,last_name,birth_date,zip,state,partner,share_consent
//   events-<date>.csv/.ndjson   with --extra-day: "one more day" (day D, the day after the last one),
//                               continuing the same members' activity, with a few late events of the
//                               previous two days, for the incremental-run benchmark
//   meta.json                   the parameters and counts; written last, so its presence means complete
//
// Same parameters and seed => byte-identical files. Everything is streamed: only one day of events
// (N / D records) and the per-member state arrays are in memory at a time.
//
// Model: each member has an engagement class (engaged / regular / casual) and a two-state Markov
// chain over days (active / inactive) whose "stay active" probability gives runs of consecutive
// active days, so streak and active-days rules earn sometimes. An active member logs data
// (`data_logged`) that day; the rest of the day's events (symptoms, app opens, moods, ...) go mostly
// to active members. Timestamps mix `Z` with a timezone column, numeric offsets (with or without
// the column) and bare `Z`. About 0.5% of rows are exact duplicates of an earlier row, 0.2% are bad
// (invalid dates, missing user_id, unknown zone, broken properties JSON, missing event_type) and
// 0.01% reuse an event_id with different content (conflicting duplicates).

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bump when the output for the same parameters changes, so cached data sets are regenerated. */
export const GENERATOR_VERSION = 1;

export const DEFAULTS = Object.freeze({
  events: 1_000_000,
  members: 100_000,
  days: 90,
  start: '2026-03-01',
  seed: 'rewards-bench',
  dupRate: 0.005,
  badRate: 0.002,
  conflictRate: 0.0001,
  missingIdRate: 0.03,
  lateRate: 0.02, // extra day only: share of its events dated one or two days earlier
});

// ---------------------------------------------------------------------------------------------
// PRNG: sfc32 seeded through a string hash (cyrb128). Independent named streams per purpose and
// per day, so the extra day can be generated without regenerating the N events before it.

function cyrb128(str) {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

export function makeRng(...parts) {
  let [a, b, c, d] = cyrb128(parts.join('\u0000'));
  const u32 = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) u32();
  const next = () => u32() / 4294967296;
  return {
    u32,
    next,
    /** Integer in [0, n). */
    int: (n) => Math.floor(next() * n),
    /** Integer in [lo, hi]. */
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
  };
}

/** Picks from [[value, weight], ...]; weights need not sum to 1. */
function weighted(table) {
  const total = table.reduce((s, [, w]) => s + w, 0);
  const cum = [];
  let acc = 0;
  for (const [v, w] of table) cum.push([v, (acc += w / total)]);
  return (rng) => {
    const r = rng.next();
    for (const [v, c] of cum) if (r < c) return v;
    return cum[cum.length - 1][0];
  };
}

// ---------------------------------------------------------------------------------------------
// Reference data

// [state, weight, zone, [zip3 ranges]] — ranges include HIPAA's restricted three-digit areas
// (e.g. 036 in NH, 102 in NY, 790 in TX, 890/893 in NV, 821-831 in WY, 878-884 in NM, 692 in NE).
const STATES = [
  ['CA', 12, 'America/Los_Angeles', [[900, 961]]],
  ['TX', 9, 'America/Chicago', [[750, 799]]],
  ['FL', 7, 'America/New_York', [[320, 349]]],
  ['NY', 6, 'America/New_York', [[100, 149]]],
  ['PA', 4, 'America/New_York', [[150, 196]]],
  ['IL', 4, 'America/Chicago', [[600, 629]]],
  ['OH', 3.5, 'America/New_York', [[430, 459]]],
  ['GA', 3.3, 'America/New_York', [[300, 319]]],
  ['NC', 3.2, 'America/New_York', [[270, 289]]],
  ['NJ', 2.8, 'America/New_York', [[70, 89]]],
  ['WA', 2.3, 'America/Los_Angeles', [[980, 994]]],
  ['MA', 2.1, 'America/New_York', [[10, 27]]],
  ['AZ', 2.2, 'America/Phoenix', [[850, 865]]],
  ['CO', 1.8, 'America/Denver', [[800, 816]]],
  ['MN', 1.7, 'America/Chicago', [[550, 567]]],
  ['NV', 1, 'America/Los_Angeles', [[889, 898]]],
  ['NM', 0.6, 'America/Denver', [[870, 884]]],
  ['NE', 0.6, 'America/Chicago', [[680, 693]]],
  ['NH', 0.4, 'America/New_York', [[30, 38]]],
  ['CT', 1.1, 'America/New_York', [[60, 69]]],
  ['DC', 0.2, 'America/New_York', [[200, 205]]],
  ['WY', 0.2, 'America/Denver', [[820, 831]]],
  ['MT', 0.3, 'America/Denver', [[590, 599]]],
  ['AK', 0.2, 'America/Anchorage', [[995, 999]]],
  ['HI', 0.4, 'Pacific/Honolulu', [[967, 968]]],
];
const pickState = weighted(STATES.map((s, i) => [i, s[1]]));

const FIRST = ['Olivia', 'Emma', 'Ava', 'Sophia', 'Isabella', 'Mia', 'Amelia', 'Harper', 'Evelyn', 'Abigail', 'Emily', 'Ella', 'Camila', 'Luna', 'Sofia', 'Avery', 'Mila', 'Aria', 'Scarlett', 'Penelope', 'Layla', 'Chloe', 'Victoria', 'Madison', 'Eleanor', 'Grace', 'Nora', 'Riley', 'Zoey', 'Hannah', 'Liam', 'Noah', 'Oliver', 'James', 'Elijah', 'Mateo', 'Lucas', 'Ethan', 'Maria', 'José', 'Zoë', "O'Neil"];
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Nguyen', 'Kim', "O'Brien", 'Smith-Jones', 'Müller'];

// Engagement classes: share of members, stationary share of active days, P(active tomorrow | active today).
const CLASSES = [
  { name: 'engaged', share: 0.05, pi: 0.6, stay: 0.85 },
  { name: 'regular', share: 0.2, pi: 0.1, stay: 0.6 },
  { name: 'casual', share: 0.75, pi: 0.015, stay: 0.3 },
];
/** Share of a day's fresh events that are the guaranteed data_logged of an active member. */
const ACTIVE_SHARE = 0.55;

const SOURCES = ['app', 'watch', 'web'];
const pickPreferredSource = weighted([[0, 60], [1, 25], [2, 15]]);

// Events of the day beyond each active member's first data_logged.
const pickActiveType = weighted([
  ['data_logged', 30],
  ['app_opened', 25],
  ['symptom_logged', 22],
  ['mood_logged', 8],
  ['medication_taken', 7],
  ['article_read', 5],
  ['reminder_set', 2.5],
  ['birth_reported', 0.5],
]);
// Members not active today only open the app or read.
const pickIdleType = weighted([['app_opened', 70], ['article_read', 20], ['reminder_set', 10]]);

const METRICS = [
  ['weight', 'kg', (r) => +(55 + r.next() * 45).toFixed(1)],
  ['steps', 'count', (r) => r.range(800, 18000)],
  ['sleep', 'h', (r) => +(4 + r.next() * 6).toFixed(2)],
  ['heart_rate', 'bpm', (r) => r.range(52, 120)],
  ['blood_pressure', 'mmHg', (r) => `${r.range(100, 150)}/${r.range(60, 95)}`],
  ['glucose', 'mg/dL', (r) => r.range(70, 180)],
  ['water', 'ml', (r) => r.range(150, 750)],
];
const pickMetric = weighted(METRICS.map((m, i) => [i, [18, 30, 15, 12, 8, 7, 10][i]]));
const SYMPTOMS = ['nausea', 'headache', 'fatigue', 'cramps', 'back_pain', 'heartburn', 'swelling', 'insomnia', 'dizziness'];
const MOODS = ['great', 'good', 'okay', 'low', 'anxious', 'irritable'];
const MEDS = ['prenatal_vitamin', 'iron', 'folic_acid', 'vitamin_d', 'omega_3', 'levothyroxine'];
const SCREENS = ['home', 'timeline', 'log', 'insights', 'community', 'settings'];
// Local hour of day for an event (waking hours, evening peak).
const pickHour = weighted([[0, 1], [1, 0.5], [2, 0.3], [3, 0.2], [4, 0.3], [5, 1], [6, 4], [7, 8], [8, 8], [9, 6], [10, 5], [11, 5], [12, 6], [13, 5], [14, 4], [15, 4], [16, 4], [17, 5], [18, 6], [19, 7], [20, 8], [21, 8], [22, 5], [23, 2]]);

// ---------------------------------------------------------------------------------------------
// Time helpers

const DAY_MS = 86_400_000;
const pad2 = (n) => (n < 10 ? '0' : '') + n;
const pad3 = (n) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

export function parseDay(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new Error(`bad date ${s}; expected YYYY-MM-DD`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3]);
}
export function dayString(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}
export function addDays(date, n) {
  return dayString(parseDay(date) + n * DAY_MS);
}

const offsetCaches = new Map();
/** Offset of `zone` from UTC in minutes at the UTC instant `ms` (cached per zone and 15 minutes). */
function zoneOffset(zone, ms) {
  let c = offsetCaches.get(zone);
  if (!c) offsetCaches.set(zone, (c = { fmt: new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }), slots: new Map() }));
  const slot = Math.floor(ms / 900_000);
  let off = c.slots.get(slot);
  if (off === undefined) {
    const name = c.fmt.formatToParts(new Date(slot * 900_000)).find((p) => p.type === 'timeZoneName').value; // GMT-05:00 or GMT
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    off = m ? (m[1] === '-' ? -1 : 1) * (+m[2] * 60 + +m[3]) : 0;
    c.slots.set(slot, off);
  }
  return off;
}
/** The UTC instant of a local wall-clock time (a skipped DST hour moves forward, like most clients do). */
function wallToUtc(zone, wallMs) {
  const guess = wallMs - zoneOffset(zone, wallMs) * 60_000;
  return wallMs - zoneOffset(zone, guess) * 60_000;
}
function isoUtc(ms, withMs) {
  const d = new Date(ms);
  const s = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return withMs ? `${s}.${pad3(d.getUTCMilliseconds())}Z` : s + 'Z';
}
function isoOffset(utcMs, offsetMin, withMs) {
  const local = new Date(utcMs + offsetMin * 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  const s = `${local.getUTCFullYear()}-${pad2(local.getUTCMonth() + 1)}-${pad2(local.getUTCDate())}T${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())}`;
  return `${s}${withMs ? '.' + pad3(local.getUTCMilliseconds()) : ''}${sign}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}

// ---------------------------------------------------------------------------------------------
// Output: buffered synchronous writes to a temp name, renamed when complete.

class Out {
  constructor(path) {
    this.path = path;
    this.tmp = path + '.tmp';
    this.fd = openSync(this.tmp, 'w');
    this.parts = [];
    this.pending = 0;
    this.bytes = 0;
  }
  write(s) {
    this.parts.push(s);
    this.pending += s.length;
    if (this.pending >= 1 << 20) this.flush();
  }
  flush() {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    writeSync(this.fd, buf);
    this.bytes += buf.length;
    this.parts = [];
    this.pending = 0;
  }
  close() {
    this.flush();
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
    return this.bytes;
  }
}

function csvCell(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export const EVENT_COLUMNS = ['event_id', 'user_id', 'event_type', 'occurred_at', 'timezone', 'properties'];
export const MEMBER_COLUMNS = ['user_id', 'email', 'first_name', 'last_name', 'birth_date', 'zip', 'state', 'partner', 'share_consent'];

/**
 * A record as both lines. `props` is an object, null (none) or a string (a broken JSON text, written
 * verbatim into the CSV cell and as a JSON string in NDJSON: both are rejected the same way).
 */
function eventLines(e) {
  const propsText = e.props === null ? '' : typeof e.props === 'string' ? e.props : JSON.stringify(e.props);
  const csv = `${csvCell(e.id)},${csvCell(e.user)},${csvCell(e.type)},${csvCell(e.at)},${csvCell(e.tz)},${csvCell(propsText)}\n`;
  const o = {};
  if (e.id !== '') o.event_id = e.id;
  if (e.user !== '' || !e.omitEmpty) o.user_id = e.user;
  o.event_type = e.type;
  o.occurred_at = e.at;
  if (e.tz !== '') o.timezone = e.tz;
  else if (e.tzNull) o.timezone = null;
  if (e.props !== null) o.properties = e.props;
  return { csv, ndjson: JSON.stringify(o) + '\n' };
}

// ---------------------------------------------------------------------------------------------
// Members

function userId(i) {
  return 'u' + String(i + 1).padStart(7, '0');
}

/** Per-member attributes the events depend on, derived from the member stream (deterministic). */
function buildMembers(p) {
  const rng = makeRng(p.seed, 'members');
  const M = p.members;
  const cls = new Uint8Array(M);
  const state = new Uint8Array(M);
  const source = new Uint8Array(M);
  const device = new Uint8Array(M); // 0 ios, 1 android
  const zoneOf = new Array(M);
  const stateOf = new Uint8Array(M);
  const pickClass = weighted(CLASSES.map((c, i) => [i, c.share]));
  for (let i = 0; i < M; i++) {
    cls[i] = pickClass(rng);
    const s = pickState(rng);
    stateOf[i] = s;
    zoneOf[i] = STATES[s][2];
    source[i] = pickPreferredSource(rng);
    device[i] = rng.chance(0.55) ? 0 : 1;
  }
  // Scale the classes' activity so that active member-days make ACTIVE_SHARE of the events.
  const target = (ACTIVE_SHARE * p.events) / (p.days * M);
  const base = CLASSES.reduce((s, c) => s + c.share * c.pi, 0);
  const k = target / base;
  const chain = CLASSES.map((c) => {
    const pi = Math.min(0.9, c.pi * k);
    const start = (pi * (1 - c.stay)) / (1 - pi);
    return { pi, stay: Math.max(c.stay, pi), start: Math.min(1, start) };
  });
  // Initial state: the stationary distribution.
  const init = makeRng(p.seed, 'state-init');
  for (let i = 0; i < M; i++) state[i] = init.chance(chain[cls[i]].pi) ? 1 : 0;
  return { cls, state, source, device, zoneOf, stateOf, chain, birthDone: new Uint8Array(M) };
}

function writeMembers(p, dir, mem) {
  const rng = makeRng(p.seed, 'member-rows');
  const out = new Out(join(dir, 'members.csv'));
  out.write(MEMBER_COLUMNS.join(',') + '\n');
  const asOf = parseDay(p.start);
  const counts = { rows: 0, acme: 0, globex: 0, none: 0, consent: 0, updates: 0 };
  const rows = [];
  for (let i = 0; i < p.members; i++) {
    // State (and so ZIP) agrees with the zone the member's events are written in.
    const [st, , , ranges] = STATES[mem.stateOf[i]];
    const [lo, hi] = ranges[0];
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const id = userId(i);
    let email = `${first}.${last}.${i + 1}@example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, '');
    if (rng.chance(0.01)) email = '';
    // Ages: mostly 18-45; a few 90+ (top-coded in partner exports); some missing.
    const r = rng.next();
    const age = r < 0.003 ? rng.range(90, 101) : r < 0.05 ? rng.range(46, 89) : rng.range(18, 45);
    let birth = dayString(asOf - (age * 365.25 + rng.int(365)) * DAY_MS);
    if (rng.chance(0.01)) birth = '';
    const zip3 = String(rng.range(lo, hi)).padStart(3, '0');
    let zip = zip3 + String(rng.int(100)).padStart(2, '0');
    if (rng.chance(0.05)) zip += '-' + String(rng.int(10000)).padStart(4, '0');
    if (rng.chance(0.005)) zip = '';
    const pr = rng.next();
    const partner = pr < 0.5 ? 'acme' : pr < 0.9 ? 'globex' : '';
    const cr = rng.next();
    const consent = cr < 0.86 ? 'true' : cr < 0.94 ? 'false' : cr < 0.97 ? 'yes' : cr < 0.99 ? '1' : '';
    counts[partner || 'none']++;
    if (consent === 'true' || consent === 'yes' || consent === '1') counts.consent++;
    const row = [id, email, first, last, birth, zip, st, partner, consent];
    out.write(row.map(csvCell).join(',') + '\n');
    counts.rows++;
    // 0.5% of members appear again later with a changed email (a later row replaces the earlier one).
    if (rng.chance(0.005)) rows.push([id, email ? 'new.' + email : `member${i + 1}@example.org`, first, last, birth, zip, st, partner, consent]);
  }
  for (const row of rows) {
    out.write(row.map(csvCell).join(',') + '\n');
    counts.rows++;
    counts.updates++;
  }
  const bytes = out.close();
  return { ...counts, bytes };
}

// ---------------------------------------------------------------------------------------------
// Events

function uuid(rng) {
  const h = (n) => n.toString(16).padStart(8, '0');
  const a = h(rng.u32());
  const b = h(rng.u32());
  const c = h(rng.u32());
  const d = h(rng.u32());
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${((parseInt(c[0], 16) & 3) | 8).toString(16)}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

function properties(type, rng, src) {
  const source = SOURCES[src];
  switch (type) {
    case 'data_logged': {
      const [metric, unit, value] = METRICS[pickMetric(rng)];
      const p = { source, metric, value: value(rng), unit };
      if (source === 'watch' && rng.chance(0.3)) p.device = rng.pick(['apple_watch', 'fitbit', 'garmin', 'oura']);
      return p;
    }
    case 'symptom_logged': {
      const p = { source, symptom: rng.pick(SYMPTOMS), severity: rng.range(1, 5) };
      if (rng.chance(0.2)) p.note = rng.pick(['after lunch', 'woke up with it', 'comes and goes', 'worse at night, "sharp"', 'mild, ok']);
      return p;
    }
    case 'app_opened':
      if (rng.chance(0.1)) return null;
      return { source: source === 'watch' ? 'app' : source, screen: rng.pick(SCREENS), app_version: rng.pick(['5.2.0', '5.2.1', '5.3.0', '5.3.2']) };
    case 'mood_logged':
      return { source, mood: rng.pick(MOODS) };
    case 'medication_taken':
      return { source, medication: rng.pick(MEDS), dose: rng.pick([1, 1, 1, 2]) };
    case 'article_read':
      return { source: source === 'watch' ? 'app' : source, article_id: 'a-' + rng.range(100, 999), seconds: rng.range(5, 600) };
    case 'reminder_set':
      return { source, kind: rng.pick(['log', 'medication', 'appointment']), at: `${pad2(rng.range(6, 22))}:00` };
    case 'birth_reported':
      return { source: 'app', weeks: rng.range(35, 41), multiple: rng.chance(0.03) };
    default:
      return { source };
  }
}

/** A fresh event of member `m` of `type` on local day `dayMs` (UTC midnight of the local date). */
function makeEvent(ctx, rng, m, type, dayMs) {
  const { mem, p } = ctx;
  const zone = mem.zoneOf[m];
  const src = rng.chance(0.8) ? mem.source[m] : rng.int(3);
  const wall = dayMs + pickHour(rng) * 3_600_000 + rng.int(3600) * 1000 + (rng.chance(0.3) ? rng.int(1000) : 0);
  const utc = wallToUtc(zone, wall);
  const withMs = utc % 1000 !== 0;
  const r = rng.next();
  let at;
  let tz = '';
  if (r < 0.55) {
    at = isoUtc(utc, withMs);
    tz = zone;
  } else if (r < 0.75) {
    at = isoOffset(utc, zoneOffset(zone, utc), withMs);
  } else if (r < 0.85) {
    at = isoOffset(utc, zoneOffset(zone, utc), withMs);
    tz = zone;
  } else {
    at = isoUtc(utc, withMs); // legacy web client: bare Z, local date from the config's zone
  }
  const id = rng.chance(p.missingIdRate) ? '' : uuid(rng);
  return { id, user: userId(m), type, at, tz, props: properties(type, rng, src), utc, tzNull: tz === '' && rng.chance(0.3) };
}

/** Corrupts a fresh event into a row validation must reject. */
function makeBad(ctx, rng, dayMs) {
  const e = makeEvent(ctx, rng, rng.int(ctx.p.members), 'data_logged', dayMs);
  const r = rng.next();
  const date = dayString(dayMs);
  if (r < 0.4) {
    e.at = rng.pick([
      `${date.slice(0, 4)}-02-30T10:00:00Z`,
      `${date.slice(0, 8)}32T10:00:00Z`,
      `${date}T24:10:00Z`,
      `${date.slice(5, 7)}/${date.slice(8, 10)}/${date.slice(0, 4)} 10:00`,
      `${date}T10:61:00-05:00`,
      'not a date',
      '',
    ]);
  } else if (r < 0.75) {
    e.user = '';
    e.omitEmpty = rng.chance(0.5);
  } else if (r < 0.85) {
    e.tz = rng.pick(['Mars/Olympus_Mons', 'America/New York', 'EST-5']);
  } else if (r < 0.93) {
    e.props = '{"source":"app","metric":"steps"';
  } else {
    e.type = '';
  }
  e.bad = true;
  return e;
}

/** Advances every member's active/inactive chain by one day; returns today's active members. */
function stepDay(mem, rng) {
  const { state, cls, chain } = mem;
  const active = [];
  for (let i = 0; i < state.length; i++) {
    const c = chain[cls[i]];
    const on = rng.next() < (state[i] ? c.stay : c.start);
    state[i] = on ? 1 : 0;
    if (on) active.push(i);
  }
  return active;
}

/**
 * The rows of local day `d`: `rowsToday` rows in total (fresh events sorted by time, exact duplicates
 * and conflicting duplicates inserted shortly after their original, bad rows anywhere).
 */
function dayRows(ctx, d, rowsToday, active, { late = 0 } = {}) {
  const { p, mem, stats } = ctx;
  const rng = makeRng(p.seed, 'day', d);
  const dayMs = parseDay(p.start) + d * DAY_MS;
  for (let i = active.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [active[i], active[j]] = [active[j], active[i]];
  }
  let dups = 0;
  let bads = 0;
  let conflicts = 0;
  for (let i = 0; i < rowsToday; i++) {
    const r = rng.next();
    if (r < p.badRate) bads++;
    else if (r < p.badRate + p.dupRate) dups++;
    else if (r < p.badRate + p.dupRate + p.conflictRate) conflicts++;
  }
  const fresh = rowsToday - dups - bads - conflicts;
  const events = [];
  const guaranteed = Math.min(active.length, fresh);
  for (let i = 0; i < fresh; i++) {
    let m;
    let type;
    if (i < guaranteed) {
      m = active[i];
      type = 'data_logged';
    } else if (active.length > 0 && rng.chance(0.8)) {
      m = active[rng.int(active.length)];
      type = pickActiveType(rng);
    } else {
      m = rng.int(p.members);
      type = pickIdleType(rng);
    }
    if (type === 'birth_reported') {
      if (mem.birthDone[m]) type = 'app_opened';
      else mem.birthDone[m] = 1;
    }
    // Late events (extra day only): synced today, but they happened one or two days earlier.
    const back = late > 0 && rng.chance(late) ? rng.range(1, 2) : 0;
    const e = makeEvent(ctx, rng, m, type, dayMs - back * DAY_MS);
    if (back) stats.late++;
    events.push(e);
  }
  events.sort((a, b) => a.utc - b.utc);
  const rows = events.slice();
  const insertAfter = (copy, at) => rows.splice(Math.min(rows.length, at), 0, copy);
  for (let i = 0; i < dups && events.length; i++) {
    const j = rng.int(rows.length);
    const orig = rows[j];
    if (orig.bad || orig.conflict) continue;
    insertAfter({ ...orig, dup: true }, j + 1 + rng.int(20));
    stats.duplicates++;
  }
  for (let i = 0; i < conflicts && events.length; i++) {
    const j = rng.int(rows.length);
    const orig = rows[j];
    if (orig.id === '' || orig.bad || orig.dup || orig.conflict || orig.props === null || typeof orig.props === 'string') {
      // No id to conflict on: write another exact duplicate instead.
      insertAfter({ ...orig, dup: true }, j + 1);
      stats.duplicates++;
      continue;
    }
    insertAfter({ ...orig, props: { ...orig.props, resent: true }, conflict: true }, j + 1 + rng.int(50));
    stats.conflicts++;
  }
  for (let i = 0; i < bads; i++) {
    insertAfter(makeBad(ctx, rng, dayMs), rng.int(rows.length + 1));
    stats.bad++;
  }
  // Keep the row count exact even when a duplicate could not be placed (empty day).
  while (rows.length < rowsToday) rows.push(makeEvent(ctx, rng, rng.int(p.members), 'app_opened', dayMs));
  for (const e of rows) if (!e.bad && !e.dup && !e.conflict) stats.types[e.type] = (stats.types[e.type] ?? 0) + 1;
  stats.fresh += rows.filter((e) => !e.bad && !e.dup && !e.conflict).length;
  stats.activeMemberDays += Math.min(active.length, fresh);
  return rows;
}

function newStats() {
  return { rows: 0, fresh: 0, duplicates: 0, conflicts: 0, bad: 0, late: 0, activeMemberDays: 0, types: {} };
}

function writeEventFiles(dir, base, emit) {
  const csv = new Out(join(dir, base + '.csv'));
  const nd = new Out(join(dir, base + '.ndjson'));
  csv.write(EVENT_COLUMNS.join(',') + '\n');
  let rows = 0;
  emit((list) => {
    for (const e of list) {
      const { csv: c, ndjson: n } = eventLines(e);
      csv.write(c);
      nd.write(n);
      rows++;
    }
  });
  return { rows, csvBytes: csv.close(), ndjsonBytes: nd.close() };
}

function normalize(opts) {
  const p = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  for (const k of ['events', 'members', 'days']) {
    p[k] = Number(p[k]);
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  parseDay(p.start);
  p.seed = String(p.seed);
  return p;
}

/** Folder name for a parameter set (cache key for the benchmark). */
export function dataDirName(opts) {
  const p = normalize(opts);
  return `n${p.events}-m${p.members}-d${p.days}-${p.start}-s${p.seed}-v${GENERATOR_VERSION}`;
}

function rowsOfDay(p, d) {
  return Math.floor(p.events / p.days) + (d < p.events % p.days ? 1 : 0);
}

/**
 * Generates the data set into `dir` (created). Returns the meta object (also written to meta.json).
 * With `extraDay`, also writes the events of day `days` (the day after the last one).
 */
export function generate(opts = {}, dir = undefined, { extraDay = true, log = () => {} } = {}) {
  const p = normalize(opts);
  const out = resolve(dir ?? join(defaultRoot(), dataDirName(p)));
  mkdirSync(out, { recursive: true });
  const t0 = Date.now();
  const mem = buildMembers(p);
  const members = writeMembers(p, out, mem);
  log(`members.csv: ${members.rows} rows`);
  const stateRng = makeRng(p.seed, 'state');
  const stats = newStats();
  const ctx = { p, mem, stats };
  const main = writeEventFiles(out, 'events', (write) => {
    for (let d = 0; d < p.days; d++) {
      write(dayRows(ctx, d, rowsOfDay(p, d), stepDay(mem, stateRng)));
      if (d % 10 === 9) log(`day ${d + 1}/${p.days}`);
    }
  });
  stats.rows = main.rows;
  const meta = {
    generator_version: GENERATOR_VERSION,
    params: p,
    first_day: p.start,
    last_day: addDays(p.start, p.days - 1),
    files: { 'events.csv': main.csvBytes, 'events.ndjson': main.ndjsonBytes, 'members.csv': members.bytes },
    events: stats,
    members,
    extra_day: null,
  };
  if (extraDay) {
    const date = addDays(p.start, p.days);
    const xs = newStats();
    const xctx = { p, mem, stats: xs };
    const base = `events-${date}`;
    const x = writeEventFiles(out, base, (write) => write(dayRows(xctx, p.days, rowsOfDay(p, 0), stepDay(mem, stateRng), { late: p.lateRate })));
    xs.rows = x.rows;
    meta.extra_day = { date, csv: base + '.csv', ndjson: base + '.ndjson', events: xs };
    meta.files[base + '.csv'] = x.csvBytes;
    meta.files[base + '.ndjson'] = x.ndjsonBytes;
  }
  meta.seconds = (Date.now() - t0) / 1000;
  writeFileSync(join(out, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return { dir: out, meta };
}

/**
 * Only the "one more day" file (day `days`), written to `dir`. It replays the members' day-to-day
 * chain (cheap) but not the N events before it, and equals what `generate` writes for that day
 * except for `birth_reported` events (whose once-per-member memory is not replayed).
 */
export function generateExtraDay(opts = {}, dir) {
  const p = normalize(opts);
  mkdirSync(dir, { recursive: true });
  const mem = buildMembers(p);
  const stateRng = makeRng(p.seed, 'state');
  for (let d = 0; d < p.days; d++) stepDay(mem, stateRng);
  const date = addDays(p.start, p.days);
  const stats = newStats();
  const base = `events-${date}`;
  writeEventFiles(dir, base, (write) => write(dayRows({ p, mem, stats }, p.days, rowsOfDay(p, 0), stepDay(mem, stateRng), { late: p.lateRate })));
  return { date, csv: join(dir, base + '.csv'), ndjson: join(dir, base + '.ndjson'), events: stats };
}

export function defaultRoot() {
  return fileURLToPath(new URL('../../.bench/data/', import.meta.url));
}

/** The data set for these parameters, generated unless a complete one (meta.json) is already there. */
export function ensureData(opts = {}, { log = () => {}, force = false } = {}) {
  const dir = join(defaultRoot(), dataDirName(opts));
  const metaPath = join(dir, 'meta.json');
  if (!force && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    const all = Object.keys(meta.files).every((f) => existsSync(join(dir, f)));
    if (all && meta.generator_version === GENERATOR_VERSION) return { dir, meta, reused: true };
  }
  return { ...generate(opts, dir, { log }), reused: false };
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--events' || a === '-n') o.events = next();
    else if (a === '--members' || a === '-m') o.members = next();
    else if (a === '--days' || a === '-d') o.days = next();
    else if (a === '--start') o.start = next();
    else if (a === '--seed') o.seed = next();
    else if (a === '--out') o.out = next();
    else if (a === '--extra-day-only') o.extraDayOnly = true;
    else if (a === '--force') o.force = true;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`generate: ${err.message}\n`);
    process.exit(64);
  }
  if (args.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 20).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(0);
  }
  const { out, force, extraDayOnly, ...params } = args;
  const log = (m) => process.stderr.write(`generate: ${m}\n`);
  if (extraDayOnly) {
    const r = generateExtraDay(params, resolve(out ?? '.'));
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  } else {
    const r = out ? { ...generate(params, out, { log }), reused: false } : ensureData(params, { log, force });
    process.stdout.write(JSON.stringify({ dir: r.dir, reused: r.reused, ...r.meta }, null, 2) + '\n');
  }
}
