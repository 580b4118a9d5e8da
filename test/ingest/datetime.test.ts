import { describe, expect, it } from 'vitest';
import { dateInZone, localDate, parseDateTime, parseDateTimeByPattern, type ParsedDateTime } from '../../src/time/datetime.js';

function dt(s: string): ParsedDateTime {
  const p = parseDateTime(s);
  if (!p) throw new Error(`expected ${s} to parse`);
  return p;
}

describe('parseDateTime', () => {
  it('reads the common fixed shapes by position exactly as the pattern reads them', () => {
    // Every combination of plausible and broken parts: the fast path must agree with the pattern
    // on the value, and on null, for each.
    const dates = ['2026-03-01', '2024-02-29', '2026-02-29', '2026-13-01', '2026-00-10', '0099-01-01', '0100-01-01', '9999-12-31', '2026-1a-01'];
    const seps = ['T', 't', ' ', 'X'];
    const times = ['00:00:00', '23:59:59', '24:00:00', '12:60:00', '12:00:60', '09:30', '9:30:00', '12:3a:00'];
    const fracs = ['', '.000', '.5', '.123', '.1234', ',123', '.12a', '.'];
    const zones = ['', 'Z', 'z', '+00:00', '-00:00', '+05:30', '-05:00', '+23:59', '+24:00', '-05:60', '+0530', '+02', '-5:00', '+05:3a', 'ZZ'];
    let compared = 0;
    for (const d of dates)
      for (const sep of seps)
        for (const t of times)
          for (const f of fracs)
            for (const z of zones) {
              const s = `${d}${sep}${t}${f}${z}`;
              expect(parseDateTime(s), s).toEqual(parseDateTimeByPattern(s));
              compared++;
            }
    expect(compared).toBe(9 * 4 * 8 * 8 * 15);
    expect(parseDateTime('2026-03-01T09:30:00.250-05:00')).toEqual({
      date: '2026-03-01',
      ms: Date.UTC(2026, 2, 1, 14, 30, 0, 250),
      offsetMinutes: -300,
      zone: 'offset',
      canonical: '2026-03-01T14:30:00.250Z',
    });
  });

  it('reads Z as UTC', () => {
    expect(parseDateTime('2026-03-01T14:30:00Z')).toEqual({
      date: '2026-03-01',
      ms: Date.UTC(2026, 2, 1, 14, 30, 0),
      offsetMinutes: 0,
      zone: 'utc',
      canonical: '2026-03-01T14:30:00.000Z',
    });
    expect(dt('2026-03-01t14:30:00z').canonical).toBe('2026-03-01T14:30:00.000Z');
  });

  it('reads numeric offsets: the instant, and the date as written', () => {
    expect(parseDateTime('2026-03-01T09:30:00-05:00')).toEqual({
      date: '2026-03-01',
      ms: Date.UTC(2026, 2, 1, 14, 30, 0),
      offsetMinutes: -300,
      zone: 'offset',
      canonical: '2026-03-01T14:30:00.000Z',
    });
    expect(dt('2026-03-01T23:30:00+05:30').offsetMinutes).toBe(330);
    expect(dt('2026-03-01T23:30:00+05:30').canonical).toBe('2026-03-01T18:00:00.000Z');
    // basic format and hour-only offsets (ISO 8601; PostgreSQL writes +02)
    expect(dt('2026-03-01T23:30:00+0530').offsetMinutes).toBe(330);
    expect(dt('2026-03-01 10:00:00+02').offsetMinutes).toBe(120);
    expect(dt('2026-03-01 10:00:00+02').canonical).toBe('2026-03-01T08:00:00.000Z');
    // +00:00 is an offset, not Z
    expect(dt('2026-03-01T10:00:00+00:00').zone).toBe('offset');
    expect(dt('2026-03-01T10:00:00-00:00').zone).toBe('offset');
    // an offset can move the instant to another day: the date stays the written one
    const late = dt('2026-03-01T23:30:00-05:00');
    expect(late.date).toBe('2026-03-01');
    expect(late.canonical).toBe('2026-03-02T04:30:00.000Z');
  });

  it('reads a date-time without offset as wall-clock time', () => {
    expect(parseDateTime('2026-03-01T09:30:00')).toEqual({
      date: '2026-03-01',
      ms: Date.UTC(2026, 2, 1, 9, 30, 0),
      offsetMinutes: 0,
      zone: 'none',
      canonical: '2026-03-01T09:30:00.000',
    });
    expect(dt('2026-03-01 09:30').canonical).toBe('2026-03-01T09:30:00.000');
  });

  it('reads fractional seconds (to the millisecond)', () => {
    expect(dt('2026-03-01T10:00:00.5Z').canonical).toBe('2026-03-01T10:00:00.500Z');
    expect(dt('2026-03-01T10:00:00.123456789Z').canonical).toBe('2026-03-01T10:00:00.123Z');
    expect(dt('2026-03-01T10:00:00,25+01:00').canonical).toBe('2026-03-01T09:00:00.250Z');
    expect(dt('2026-03-01T10:00:00.999').ms).toBe(Date.UTC(2026, 2, 1, 10, 0, 0, 999));
  });

  it('checks the calendar', () => {
    expect(parseDateTime('2024-02-29T12:00:00Z')?.date).toBe('2024-02-29');
    expect(parseDateTime('2000-02-29T12:00:00Z')?.date).toBe('2000-02-29');
    expect(parseDateTime('2026-12-31T23:59:59Z')?.date).toBe('2026-12-31');
    for (const bad of [
      '2026-02-30T10:00:00Z',
      '2026-02-29T10:00:00Z',
      '1900-02-29T10:00:00Z',
      '2026-04-31T10:00:00Z',
      '2026-13-01T10:00:00Z',
      '2026-00-10T10:00:00Z',
      '2026-03-00T10:00:00Z',
      '2026-03-32T10:00:00Z',
    ]) {
      expect(parseDateTime(bad), bad).toBeNull();
    }
  });

  it('rejects impossible times and offsets', () => {
    for (const bad of [
      '2026-03-01T24:00:00Z',
      '2026-03-01T24:00:00',
      '2026-03-01T23:60:00Z',
      '2026-03-01T23:59:60Z',
      '2026-03-01T10:00:00+24:00',
      '2026-03-01T10:00:00+05:60',
      '2026-03-01T10:00:00+5:00',
      '2026-03-01T10:00:00+05:00:00',
      '2026-03-01T10:00:00 +05:00',
    ]) {
      expect(parseDateTime(bad), bad).toBeNull();
    }
  });

  it('rejects what is not an ISO-8601 date-time', () => {
    for (const bad of [
      '',
      '2026-03-01',
      '2026-3-1T10:00:00Z',
      '26-03-01T10:00:00Z',
      '2026/03/01 10:00:00',
      '2026-03-01T10Z',
      '2026-03-01T10:00:00ZZ',
      '2026-03-01T10:00:00.Z',
      '2026-03-01T10:00:00.1234567890Z',
      ' 2026-03-01T10:00:00Z',
      '2026-03-01T10:00:00Z ',
      '1772360000',
      'Sun, 01 Mar 2026 10:00:00 GMT',
      'not a date',
    ]) {
      expect(parseDateTime(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it('keeps years below 100 as written (not 19xx)', () => {
    expect(dt('0050-03-01T00:00:00Z').canonical).toBe('0050-03-01T00:00:00.000Z');
    expect(parseDateTime('0000-02-29T00:00:00Z')?.date).toBe('0000-02-29');
    expect(parseDateTime('0001-02-29T00:00:00Z')).toBeNull();
  });
});

describe('localDate', () => {
  const NY = 'America/New_York';

  it('rule 1: a timezone column gives the date of the instant in that zone', () => {
    // 03:00Z is 22:00 the day before in New York (EST, -5)
    expect(localDate(dt('2026-03-02T03:00:00Z'), NY, 'UTC')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-02T05:00:00Z'), NY, 'UTC')).toBe('2026-03-02');
    // ... and beats the written offset: 23:30-05:00 is 13:30 the next day in Tokyo
    expect(localDate(dt('2026-03-01T23:30:00-05:00'), 'Asia/Tokyo', 'UTC')).toBe('2026-03-02');
    // ... and beats the default zone for Z
    expect(localDate(dt('2026-03-02T03:00:00Z'), 'Asia/Tokyo', NY)).toBe('2026-03-02');
    // a time without offset is wall-clock time in that zone: the date as written
    expect(localDate(dt('2026-03-01T23:30:00'), 'Asia/Tokyo', NY)).toBe('2026-03-01');
    expect(localDate(dt('2026-03-01T00:30:00'), 'Pacific/Honolulu', 'UTC')).toBe('2026-03-01');
  });

  it('rule 2: a numeric offset gives the date as written, whatever the default zone', () => {
    expect(localDate(dt('2026-03-01T23:30:00-05:00'), null, 'UTC')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-02T01:00:00+02:00'), null, 'UTC')).toBe('2026-03-02');
    expect(localDate(dt('2026-03-02T01:00:00+02:00'), null, NY)).toBe('2026-03-02');
    expect(localDate(dt('2026-03-01T23:59:59+00:00'), null, 'Asia/Tokyo')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-01T00:00:00-11:00'), null, 'Pacific/Kiritimati')).toBe('2026-03-01');
  });

  it('rule 3: Z gives the date of the instant in the default zone (config timezone, else UTC)', () => {
    expect(localDate(dt('2026-03-02T03:00:00Z'), null, 'UTC')).toBe('2026-03-02');
    expect(localDate(dt('2026-03-02T03:00:00Z'), null, NY)).toBe('2026-03-01');
    expect(localDate(dt('2026-03-01T15:00:00Z'), null, 'Asia/Tokyo')).toBe('2026-03-02');
    expect(localDate(dt('2026-03-01T14:59:59.999Z'), null, 'Asia/Tokyo')).toBe('2026-03-01');
  });

  it('rule 3: no offset and no timezone column is the date as written, whatever the default zone', () => {
    expect(localDate(dt('2026-03-01T23:59:59'), null, 'UTC')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-01T23:59:59'), null, 'Asia/Tokyo')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-01T00:00:00'), null, NY)).toBe('2026-03-01');
  });

  it('times near midnight', () => {
    expect(localDate(dt('2026-03-01T23:59:59.999Z'), null, 'UTC')).toBe('2026-03-01');
    expect(localDate(dt('2026-03-02T00:00:00Z'), null, 'UTC')).toBe('2026-03-02');
    // midnight in New York in winter is 05:00Z
    expect(localDate(dt('2026-01-15T04:59:59Z'), NY, 'UTC')).toBe('2026-01-14');
    expect(localDate(dt('2026-01-15T05:00:00Z'), NY, 'UTC')).toBe('2026-01-15');
    // and in summer 04:00Z
    expect(localDate(dt('2026-07-15T03:59:59Z'), NY, 'UTC')).toBe('2026-07-14');
    expect(localDate(dt('2026-07-15T04:00:00Z'), NY, 'UTC')).toBe('2026-07-15');
    // the year boundary
    expect(localDate(dt('2027-01-01T04:59:59Z'), null, NY)).toBe('2026-12-31');
    expect(localDate(dt('2027-01-01T05:00:00Z'), null, NY)).toBe('2027-01-01');
  });

  it('DST starts in New York on 2026-03-08 (02:00 EST -> 03:00 EDT)', () => {
    // the night before: EST
    expect(localDate(dt('2026-03-08T04:59:59Z'), NY, 'UTC')).toBe('2026-03-07');
    expect(localDate(dt('2026-03-08T05:00:00Z'), NY, 'UTC')).toBe('2026-03-08');
    // around the jump itself (01:59:59 EST, then 03:00 EDT)
    expect(localDate(dt('2026-03-08T06:59:59Z'), NY, 'UTC')).toBe('2026-03-08');
    expect(localDate(dt('2026-03-08T07:00:00Z'), NY, 'UTC')).toBe('2026-03-08');
    // the day is 23 hours long: it ends at 04:00Z, not 05:00Z
    expect(localDate(dt('2026-03-09T03:59:59Z'), NY, 'UTC')).toBe('2026-03-08');
    expect(localDate(dt('2026-03-09T04:00:00Z'), NY, 'UTC')).toBe('2026-03-09');
    // same through the default zone for Z
    expect(localDate(dt('2026-03-09T03:59:59Z'), null, NY)).toBe('2026-03-08');
    expect(localDate(dt('2026-03-09T04:00:00Z'), null, NY)).toBe('2026-03-09');
    // an offset with the zone: 23:30 EDT on the 8th
    expect(localDate(dt('2026-03-08T23:30:00-04:00'), NY, 'UTC')).toBe('2026-03-08');
    // wall-clock time in the skipped hour: still the date as written
    expect(localDate(dt('2026-03-08T02:30:00'), NY, 'UTC')).toBe('2026-03-08');
  });

  it('DST ends in New York on 2026-11-01 (02:00 EDT -> 01:00 EST)', () => {
    expect(localDate(dt('2026-11-01T03:59:59Z'), NY, 'UTC')).toBe('2026-10-31');
    expect(localDate(dt('2026-11-01T04:00:00Z'), NY, 'UTC')).toBe('2026-11-01');
    // both 01:30s of the repeated hour are on the 1st
    expect(localDate(dt('2026-11-01T05:30:00Z'), NY, 'UTC')).toBe('2026-11-01');
    expect(localDate(dt('2026-11-01T06:30:00Z'), NY, 'UTC')).toBe('2026-11-01');
    // the day is 25 hours long: it ends at 05:00Z on the 2nd, not 04:00Z
    expect(localDate(dt('2026-11-02T04:00:00Z'), NY, 'UTC')).toBe('2026-11-01');
    expect(localDate(dt('2026-11-02T04:59:59Z'), NY, 'UTC')).toBe('2026-11-01');
    expect(localDate(dt('2026-11-02T05:00:00Z'), NY, 'UTC')).toBe('2026-11-02');
    expect(localDate(dt('2026-11-02T04:30:00Z'), null, NY)).toBe('2026-11-01');
  });

  it('dateInZone handles half-hour and far-east zones', () => {
    expect(dateInZone(Date.UTC(2026, 2, 1, 18, 29, 59), 'Asia/Kolkata')).toBe('2026-03-01');
    expect(dateInZone(Date.UTC(2026, 2, 1, 18, 30, 0), 'Asia/Kolkata')).toBe('2026-03-02');
    expect(dateInZone(Date.UTC(2026, 2, 1, 10, 0, 0), 'Pacific/Kiritimati')).toBe('2026-03-02');
    expect(dateInZone(Date.UTC(2026, 2, 1, 10, 59, 59), 'Pacific/Pago_Pago')).toBe('2026-02-28');
  });
});
