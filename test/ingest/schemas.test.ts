import { describe, expect, it } from 'vitest';
import { EventInput, toEventRow } from '../../src/ingest/event-schema.js';
import { canonicalJson, describeIssues } from '../../src/ingest/fields.js';
import { readMember } from '../../src/ingest/member-schema.js';
import type { EventRow, MemberRow } from '../../src/store/ingest.js';

const base = { user_id: 'u1', event_type: 'steps', occurred_at: '2026-03-01T10:00:00Z' };

/** The reason a row is rejected with, as the rejects table shows it (without the `line N: ` prefix). */
function eventReason(input: Record<string, unknown>): string {
  const r = EventInput.safeParse(input);
  if (r.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return describeIssues(r.error);
}

function event(input: Record<string, unknown>, defaultZone = 'UTC'): EventRow {
  const r = EventInput.safeParse(input);
  if (!r.success) throw new Error(`expected ${JSON.stringify(input)} to be valid: ${describeIssues(r.error)}`);
  return toEventRow(r.data, 7, 'raw text', defaultZone);
}

/** Why a member row is rejected (only its user_id can do that). */
function memberReason(input: Record<string, unknown>): string {
  const r = readMember(input, 3);
  if (!('error' in r)) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return r.error;
}

/** A member row stored, with its field problems as `field: reason` (the field itself stored empty). */
function memberRead(input: Record<string, unknown>): { row: MemberRow; problems: string[] } {
  const r = readMember(input, 3);
  if ('error' in r) throw new Error(`expected ${JSON.stringify(input)} to be stored: ${r.error}`);
  return { row: r.row, problems: r.problems.map((p) => `${p.field}: ${p.reason}`) };
}

function member(input: Record<string, unknown>): MemberRow {
  const r = memberRead(input);
  if (r.problems.length) throw new Error(`expected ${JSON.stringify(input)} to be valid: ${r.problems.join('; ')}`);
  return r.row;
}

/** The one problem of a member row with one bad field, after checking the row is kept with it empty. */
function fieldProblem(input: Record<string, unknown>, field: keyof MemberRow): string {
  const r = memberRead(input);
  expect(r.row[field], `${field} is stored empty`).toBe(field === 'share_consent' ? 0 : null);
  expect(r.row.user_id).toBe('u1');
  expect(r.problems).toHaveLength(1);
  return r.problems[0]!;
}

describe('event schema: reasons name the field and the value', () => {
  it('an impossible date', () => {
    expect(eventReason({ ...base, occurred_at: '2026-02-30T10:00:00Z' })).toMatch(
      /^occurred_at: "2026-02-30T10:00:00Z" is not a valid date-time/,
    );
    expect(eventReason({ ...base, occurred_at: '2026-03-01T24:00:00Z' })).toMatch(/^occurred_at: "2026-03-01T24:00:00Z" is not a valid date-time/);
    expect(eventReason({ ...base, occurred_at: 'yesterday' })).toMatch(/^occurred_at: "yesterday" is not a valid date-time/);
  });

  it('missing and empty required fields', () => {
    expect(eventReason({ event_type: 'steps', occurred_at: base.occurred_at })).toBe('user_id: is required');
    expect(eventReason({ ...base, user_id: '' })).toBe('user_id: is required and must not be empty');
    expect(eventReason({ ...base, user_id: null })).toBe('user_id: is required');
    expect(eventReason({ ...base, event_type: '   ' })).toBe('event_type: is required and must not be empty');
    expect(eventReason({ user_id: 'u1', event_type: 'steps' })).toBe('occurred_at: is required');
    expect(eventReason({ user_id: 'u1', event_type: 'steps', occurred_at: '' })).toBe('occurred_at: is required and must not be empty');
  });

  it('wrong types', () => {
    expect(eventReason({ ...base, user_id: 1.5 })).toBe('user_id: expected text or an integer, got 1.5');
    expect(eventReason({ ...base, user_id: -3 })).toBe('user_id: expected text or an integer, got -3');
    // NDJSON ids beyond 2^53 are already rounded by JSON.parse: refuse them rather than store a wrong id
    expect(eventReason({ ...base, event_id: JSON.parse('12345678901234567890') })).toBe(
      'event_id: is a number too large to be read exactly (12345678901234567000); write ids as JSON strings',
    );
    expect(event({ ...base, user_id: 9007199254740991 }).user_id).toBe('9007199254740991');
    expect(eventReason({ ...base, event_type: 12 })).toBe('event_type: expected text, got 12');
    // A Unix time is read only in a unit a source declares (test/ingest/sources.test.ts); here it gets the hint.
    expect(eventReason({ ...base, occurred_at: 1772359200 })).toBe(
      'occurred_at: "1772359200" is not a valid date-time (expected e.g. 2026-03-01T14:30:00Z, 2026-03-01T09:30:00-05:00 or 2026-03-01T09:30:00); it looks like a Unix time: declare its unit with a source (time_unit s, ms or us)',
    );
    expect(eventReason({ ...base, event_type: 'st\u0001eps' })).toBe('event_type: contains control characters');
    expect(eventReason({ ...base, event_id: { a: 1 } })).toBe('event_id: expected text or an integer, got {"a":1}');
  });

  it('timezone', () => {
    expect(eventReason({ ...base, timezone: 'Mars/Olympus_Mons' })).toBe(
      'timezone: "Mars/Olympus_Mons" is not a known IANA time zone (e.g. America/New_York)',
    );
    expect(eventReason({ ...base, timezone: 5 })).toBe('timezone: expected text, got 5');
    expect(event({ ...base, timezone: '' }).timezone).toBeNull();
    expect(event({ ...base, timezone: ' America/New_York ' }).timezone).toBe('America/New_York');
  });

  it('properties', () => {
    expect(eventReason({ ...base, properties: '{steps: 5}' })).toBe('properties: "{steps: 5}" is not valid JSON; expected a JSON object');
    expect(eventReason({ ...base, properties: '[1,2]' })).toBe('properties: expected a JSON object, got an array');
    expect(eventReason({ ...base, properties: '5' })).toBe('properties: expected a JSON object, got 5');
    expect(eventReason({ ...base, properties: [1] })).toBe('properties: expected a JSON object, got an array');
    expect(eventReason({ ...base, properties: true })).toBe('properties: expected a JSON object, got true');
    expect(event({ ...base, properties: '' }).properties).toBeNull();
    expect(event({ ...base, properties: null }).properties).toBeNull();
    expect(event({ ...base, properties: '{"steps": 5, "a": [2, 1]}' }).properties).toBe('{"a":[2,1],"steps":5}');
    expect(event({ ...base, properties: { steps: 5 } }).properties).toBe('{"steps":5}');
  });

  it('several problems are all named, separated by "; "', () => {
    expect(eventReason({ user_id: '', event_type: 'steps', occurred_at: '2026-02-30T10:00:00Z' })).toBe(
      'user_id: is required and must not be empty; occurred_at: "2026-02-30T10:00:00Z" is not a valid date-time ' +
        '(expected e.g. 2026-03-01T14:30:00Z, 2026-03-01T09:30:00-05:00 or 2026-03-01T09:30:00)',
    );
  });
});

describe('event rows', () => {
  it('stores the fields, trimmed, with the local date', () => {
    const e = event({ event_id: ' e-1 ', user_id: ' u1 ', event_type: ' steps ', occurred_at: '2026-03-02T03:00:00Z', properties: '{"b":1,"a":2}' }, 'America/New_York');
    expect(e).toMatchObject({
      event_id: 'e-1',
      user_id: 'u1',
      event_type: 'steps',
      occurred_at: '2026-03-02T03:00:00Z',
      timezone: null,
      local_date: '2026-03-01',
      properties: '{"a":2,"b":1}',
      line: 7,
      raw: 'raw text',
    });
  });

  it('integer ids from NDJSON become text', () => {
    const e = event({ ...base, event_id: 42, user_id: 1001 });
    expect(e.event_id).toBe('42');
    expect(e.user_id).toBe('1001');
  });

  it('the local date follows the rules (timezone column > offset > Z in the default zone)', () => {
    expect(event({ ...base, occurred_at: '2026-03-01T23:30:00-05:00' }).local_date).toBe('2026-03-01');
    expect(event({ ...base, occurred_at: '2026-03-01T23:30:00-05:00', timezone: 'Asia/Tokyo' }).local_date).toBe('2026-03-02');
    expect(event({ ...base, occurred_at: '2026-03-02T03:00:00Z' }, 'UTC').local_date).toBe('2026-03-02');
    expect(event({ ...base, occurred_at: '2026-03-02T03:00:00Z' }, 'America/New_York').local_date).toBe('2026-03-01');
    expect(event({ ...base, occurred_at: '2026-03-02T03:00:00Z', timezone: 'Europe/Paris' }, 'America/New_York').local_date).toBe('2026-03-02');
    expect(event({ ...base, occurred_at: '2026-03-01T23:30:00' }, 'Asia/Tokyo').local_date).toBe('2026-03-01');
  });
});

describe('deterministic event ids (no event_id in the export)', () => {
  const e1 = { ...base, properties: '{"a":1,"b":{"x":1,"y":[1,2]}}' };

  it('the same input gives the same id, shaped h-<32 hex>', () => {
    const a = event(e1);
    const b = event({ ...e1 });
    expect(a.event_id).toMatch(/^h-[0-9a-f]{32}$/);
    expect(b.event_id).toBe(a.event_id);
    expect(b.content_hash).toBe(a.content_hash);
  });

  it('ignores the order of property keys, at every level, and CSV text vs NDJSON object', () => {
    const a = event(e1);
    expect(event({ ...base, properties: '{"b":{"y":[1,2],"x":1},"a":1}' }).event_id).toBe(a.event_id);
    expect(event({ ...base, properties: { b: { y: [1, 2], x: 1 }, a: 1 } }).event_id).toBe(a.event_id);
    expect(event({ ...base, properties: '{ "a" : 1 , "b" : { "x" : 1 , "y" : [ 1 , 2 ] } }' }).event_id).toBe(a.event_id);
  });

  it('is the same for the same instant written in another offset', () => {
    const a = event({ ...base, occurred_at: '2026-03-01T10:00:00Z' });
    expect(event({ ...base, occurred_at: '2026-03-01T05:00:00-05:00' }).event_id).toBe(a.event_id);
    expect(event({ ...base, occurred_at: '2026-03-01T10:00:00.000Z' }).event_id).toBe(a.event_id);
  });

  it('changes with the user, the type, the instant or the properties', () => {
    const a = event(e1).event_id;
    const others = [
      event({ ...e1, user_id: 'u2' }).event_id,
      event({ ...e1, event_type: 'sleep' }).event_id,
      event({ ...e1, occurred_at: '2026-03-01T10:00:01Z' }).event_id,
      event({ ...e1, occurred_at: '2026-03-01T10:00:00.001Z' }).event_id,
      event({ ...e1, properties: '{"a":2,"b":{"x":1,"y":[1,2]}}' }).event_id,
      event({ ...e1, properties: '{"a":1,"b":{"x":1,"y":[2,1]}}' }).event_id,
      event({ ...e1, properties: '' }).event_id,
    ];
    expect(new Set([a, ...others]).size).toBe(others.length + 1);
  });

  it('a wall-clock time (no offset) is a different event in another zone', () => {
    const wall = { ...base, occurred_at: '2026-03-01T10:00:00' };
    const ny = event({ ...wall, timezone: 'America/New_York' }).event_id;
    const la = event({ ...wall, timezone: 'America/Los_Angeles' }).event_id;
    const none = event(wall).event_id;
    expect(new Set([ny, la, none]).size).toBe(3);
  });

  it('keeps an explicit event_id, and derives one when it is empty or null', () => {
    expect(event({ ...base, event_id: 'abc' }).event_id).toBe('abc');
    const derived = event(base).event_id;
    expect(event({ ...base, event_id: '' }).event_id).toBe(derived);
    expect(event({ ...base, event_id: '  ' }).event_id).toBe(derived);
    expect(event({ ...base, event_id: null }).event_id).toBe(derived);
  });

  it('keeps a "__proto__" property key (canonical JSON)', () => {
    const props = '{"b":1,"__proto__":{"x":1}}';
    expect(event({ ...base, properties: props }).properties).toBe('{"__proto__":{"x":1},"b":1}');
    expect(canonicalJson(JSON.parse(props))).toBe('{"__proto__":{"x":1},"b":1}');
    expect(event({ ...base, properties: props }).event_id).not.toBe(event({ ...base, properties: '{"b":1}' }).event_id);
  });
});

describe('member schema', () => {
  it('share_consent: true/false, yes/no, 1/0, any case; absent or empty is false', () => {
    const cases: [unknown, 0 | 1][] = [
      ['true', 1],
      ['TRUE', 1],
      ['yes', 1],
      [' Yes ', 1],
      ['1', 1],
      [true, 1],
      [1, 1],
      ['false', 0],
      ['False', 0],
      ['no', 0],
      ['NO', 0],
      ['0', 0],
      [false, 0],
      [0, 0],
      ['', 0],
      [null, 0],
    ];
    for (const [v, want] of cases) expect(member({ user_id: 'u1', share_consent: v }).share_consent, JSON.stringify(v)).toBe(want);
    expect(member({ user_id: 'u1' }).share_consent).toBe(0);
  });

  it('share_consent: anything else counts as false and is a field problem naming the value', () => {
    expect(fieldProblem({ user_id: 'u1', share_consent: 'maybe' }, 'share_consent')).toBe('share_consent: "maybe" is not a yes/no value (use true/false, yes/no or 1/0)');
    expect(fieldProblem({ user_id: 'u1', share_consent: 2 }, 'share_consent')).toBe('share_consent: 2 is not a yes/no value (use true/false, yes/no or 1/0)');
    expect(fieldProblem({ user_id: 'u1', share_consent: {} }, 'share_consent')).toBe('share_consent: {} is not a yes/no value (use true/false, yes/no or 1/0)');
  });

  it('user_id is required: the only field that rejects the row', () => {
    expect(memberReason({ email: 'a@b.c' })).toBe('user_id: is required');
    expect(memberReason({ user_id: ' ' })).toBe('user_id: is required and must not be empty');
    expect(memberReason({ user_id: 'x'.repeat(201), zip: 'ABCDE' })).toBe('user_id: is longer than 200 characters');
  });

  it('checks dates, ZIP codes, states and email addresses: a bad one is stored empty, the row kept', () => {
    expect(fieldProblem({ user_id: 'u1', birth_date: '1990-02-30' }, 'birth_date')).toBe('birth_date: "1990-02-30" is not a valid date (expected YYYY-MM-DD)');
    expect(fieldProblem({ user_id: 'u1', birth_date: '03/04/1990' }, 'birth_date')).toBe('birth_date: "03/04/1990" is not a valid date (expected YYYY-MM-DD)');
    expect(fieldProblem({ user_id: 'u1', zip: '2134' }, 'zip')).toBe('zip: "2134" is not a US ZIP code (expected 5 digits, or ZIP+4)');
    expect(fieldProblem({ user_id: 'u1', zip: 'ABCDE' }, 'zip')).toBe('zip: "ABCDE" is not a US ZIP code (expected 5 digits, or ZIP+4)');
    expect(fieldProblem({ user_id: 'u1', zip: 2134 }, 'zip')).toBe('zip: expected the ZIP code as text (a number loses leading zeros), got 2134');
    expect(fieldProblem({ user_id: 'u1', email: 'not-an-email' }, 'email')).toBe('email: "not-an-email" is not an email address');
    expect(fieldProblem({ user_id: 'u1', state: 'Massachusetts' }, 'state')).toBe('state: "Massachusetts" is not a USPS state code (e.g. MA, PR)');
    // The member keeps its partner and consent whatever else is wrong.
    const r = memberRead({ user_id: 'u1', zip: 'ABCDE', birth_date: 'soon', state: 'XX', partner: 'acme', share_consent: 'yes' });
    expect(r.row).toMatchObject({ user_id: 'u1', zip: null, birth_date: null, state: null, partner: 'acme', share_consent: 1 });
    expect(r.problems).toHaveLength(3);
  });

  it('stores the row: empty means null, ZIPs as text, state upper-cased', () => {
    expect(
      member({
        user_id: ' m-1 ',
        email: 'ana@example.com',
        first_name: 'Ana',
        last_name: '',
        birth_date: '1990-02-28',
        zip: '02134',
        state: 'ma',
        partner: 'acme',
        share_consent: 'yes',
      }),
    ).toEqual({
      user_id: 'm-1',
      email: 'ana@example.com',
      first_name: 'Ana',
      last_name: null,
      birth_date: '1990-02-28',
      zip: '02134',
      state: 'MA',
      partner: 'acme',
      share_consent: 1,
      line: 3,
    });
    expect(member({ user_id: 'u', zip: '02134-1234' }).zip).toBe('02134-1234');
    expect(member({ user_id: 7 }).user_id).toBe('7');
  });
});
