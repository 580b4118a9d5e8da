import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  birthYear,
  birthYearBand,
  generaliseDate,
  FINGERPRINT_LABEL,
  keyFingerprint,
  neutraliseFormula,
  periodsBetween,
  pseudonym,
  releaseCutoff,
  releasePeriod,
  stateBesideZip3,
  stateCode,
  zip3,
} from '../../src/export/deidentify.js';
import { RESTRICTED_ZIP3 } from '../../src/export/reference-data.js';
import { MIN_KEY_BYTES, generateKey, keyProblem, partnerKey } from '../../src/export/key.js';
import { PartnerSchema } from '../../src/config/schema.js';
import { EXIT } from '../../src/errors.js';

const KEY = Buffer.from('unit-test-key-0123456789abcdefghijklmnop', 'utf8');

describe('pseudonym', () => {
  it('is the lowercase hex HMAC-SHA256 of the UTF-8 user id keyed with the key bytes', () => {
    for (const id of ['u1', 'Ünïcødé-用户', '', '12345']) {
      expect(pseudonym(KEY, id)).toBe(createHmac('sha256', KEY).update(Buffer.from(id, 'utf8')).digest('hex'));
      expect(pseudonym(KEY, id)).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('is stable for a key and unrelated across keys', () => {
    const other = Buffer.from('another-key-0123456789abcdefghijklmnop', 'utf8');
    expect(pseudonym(KEY, 'u1')).toBe(pseudonym(KEY, 'u1'));
    expect(pseudonym(KEY, 'u1')).not.toBe(pseudonym(other, 'u1'));
    expect(pseudonym(KEY, 'u1')).not.toBe(pseudonym(KEY, 'u2'));
  });

  it('fingerprint is HMAC-SHA256(key, a fixed label), never a plain hash of the key', () => {
    expect(FINGERPRINT_LABEL).toBe('rewards partner key fingerprint v1');
    expect(keyFingerprint(KEY)).toBe(createHmac('sha256', KEY).update('rewards partner key fingerprint v1').digest('hex').slice(0, 16));
    expect(keyFingerprint(KEY)).not.toBe(createHash('sha256').update(KEY).digest('hex').slice(0, 16));
    expect(keyFingerprint(KEY)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('zip3', () => {
  it('keeps the first three digits of a ZIP or ZIP+4', () => {
    expect(zip3('02139')).toBe('021');
    expect(zip3('02139-4307')).toBe('021');
    expect(zip3('021394307')).toBe('021');
    expect(zip3(' 60614 ')).toBe('606');
  });

  it('gives 000 for every restricted three-digit area of the 2000 and 2010 censuses, and only for those', () => {
    const restricted = ['036', '059', '063', '102', '203', '205', '369', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893'];
    expect([...RESTRICTED_ZIP3].sort()).toEqual(restricted);
    for (const z of restricted) expect(zip3(`${z}42`)).toBe('000');
    expect(zip3('03701')).toBe('037');
    expect(zip3('10001')).toBe('100');
  });

  it('never puts a state beside 000: several states have exactly one restricted area', () => {
    expect(stateBesideZip3('000', 'NH')).toBe('');
    expect(stateBesideZip3(zip3('03601'), 'NH')).toBe('');
    expect(stateBesideZip3('037', 'NH')).toBe('NH');
    expect(stateBesideZip3('', 'nh')).toBe('NH');
  });

  it('gives an empty value for anything that is not a ZIP', () => {
    for (const z of [null, undefined, '', '2139', '021390', 'ABCDE', '02139-43', 'SW1A 1AA', '=1+2']) expect(zip3(z)).toBe('');
  });
});

describe('birthYear', () => {
  it('keeps the year of members younger than 80', () => {
    expect(birthYear('1985-07-04', '2026-04-30')).toBe('1985');
    expect(birthYear('1947-01-01', '2026-04-30')).toBe('1947');
  });

  it('top-codes members aged 80 or more on the as-of date as 80+, so that no pseudonym moves from a year to the top code at 90', () => {
    expect(birthYear('1940-06-15', '2026-04-30')).toBe('80+');
    expect(birthYear('1946-04-30', '2026-04-30')).toBe('80+'); // 80th birthday on the as-of date
    expect(birthYear('1936-05-01', '2025-12-31')).toBe('80+');
    expect(birthYear('1936-05-01', '2026-03-31')).toBe('80+');
    expect(birthYear('1900-01-01', '2026-04-30')).toBe('80+');
  });

  it('also top-codes those who turn 80 later in the as-of year, so the year never hints at the birthday', () => {
    expect(birthYear('1946-05-01', '2026-04-30')).toBe('80+');
    expect(birthYear('1946-12-31', '2026-04-30')).toBe('80+');
  });

  it('gives an empty value for a missing, invalid or future birth date', () => {
    expect(birthYear(null, '2026-04-30')).toBe('');
    expect(birthYear('1985-02-30', '2026-04-30')).toBe('');
    expect(birthYear('2030-01-01', '2026-04-30')).toBe('');
  });

  it('bands exported years by decade, leaving the top code, bands and unknowns alone', () => {
    expect(birthYearBand('1985')).toBe('1980-1989');
    expect(birthYearBand('2000')).toBe('2000-2009');
    expect(birthYearBand('80+')).toBe('80+');
    expect(birthYearBand('1980-1989')).toBe('1980-1989');
    expect(birthYearBand('')).toBe('');
  });
});

describe('release cutoff', () => {
  it('is the end of the last complete period on or before the as-of date', () => {
    expect(releaseCutoff('2026-03-14', 'year')).toBe('2025-12-31');
    expect(releaseCutoff('2026-03-15', 'year')).toBe('2025-12-31');
    expect(releaseCutoff('2026-12-30', 'year')).toBe('2025-12-31');
    expect(releaseCutoff('2026-12-31', 'year')).toBe('2026-12-31');
    expect(releaseCutoff('2026-03-14', 'month')).toBe('2026-02-28');
    expect(releaseCutoff('2024-02-29', 'month')).toBe('2024-02-29');
    expect(releaseCutoff('2026-03-14', 'day')).toBe('2026-03-14');
    expect(releasePeriod('2025-12-31', 'year')).toBe('2025');
    expect(releasePeriod('2026-02-28', 'month')).toBe('2026-02');
  });
});

describe('dates', () => {
  it('generalises to year, month or day', () => {
    expect(generaliseDate('2026-03-14', 'year')).toBe('2026');
    expect(generaliseDate('2026-03-14', 'month')).toBe('2026-03');
    expect(generaliseDate('2026-03-14', 'day')).toBe('2026-03-14');
    expect(generaliseDate('2026-02-30', 'year')).toBe('');
  });

  it('cuts a date range into periods clipped to the range', () => {
    expect(periodsBetween('2026-03-10', '2026-05-02', 'month')).toEqual([
      { period: '2026-03', start: '2026-03-10', end: '2026-03-31' },
      { period: '2026-04', start: '2026-04-01', end: '2026-04-30' },
      { period: '2026-05', start: '2026-05-01', end: '2026-05-02' },
    ]);
    expect(periodsBetween('2025-12-20', '2026-01-05', 'year')).toEqual([
      { period: '2025', start: '2025-12-20', end: '2025-12-31' },
      { period: '2026', start: '2026-01-01', end: '2026-01-05' },
    ]);
    expect(periodsBetween('2024-02-28', '2024-03-01', 'day').map((p) => p.period)).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    expect(periodsBetween('2026-03-01', '2026-02-28', 'year')).toEqual([]);
  });
});

describe('stateCode', () => {
  it('keeps USPS codes, uppercased, and drops anything else', () => {
    expect(stateCode('ma')).toBe('MA');
    expect(stateCode(' PR ')).toBe('PR');
    for (const s of [null, '', 'Massachusetts', 'XX', '=cmd', 'John Smith']) expect(stateCode(s)).toBe('');
  });
});

describe('neutraliseFormula', () => {
  it('prefixes cells a spreadsheet would run as a formula', () => {
    for (const c of ['=1+2', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")']) expect(neutraliseFormula(c)).toBe(`'${c}`);
  });

  it('leaves everything else alone', () => {
    for (const c of ['', 'GIFT-5', '90+', '2026-03', 'a=b', "'quoted", '021']) expect(neutraliseFormula(c)).toBe(c);
  });
});

describe('partner keys', () => {
  const partner = PartnerSchema.parse({ id: 'acme', key_env: 'REWARDS_KEY_ACME' });
  const good = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 97 + 13) % 256)).toString('base64');

  it("reads the UTF-8 bytes of the variable key_env names, in keygen's format", () => {
    expect(keyProblem(good)).toBeNull();
    expect(partnerKey({ REWARDS_KEY_ACME: good }, [partner], partner, 'rewards.config.json').equals(Buffer.from(good, 'utf8'))).toBe(true);
  });

  it('refuses a missing, short, non-base64 or plainly low-entropy key with exit 78, without quoting the key', () => {
    const bad = [
      undefined,
      '',
      'short-secret-value',
      'a'.repeat(44),
      'A'.repeat(43) + '=',
      'abcd'.repeat(11),
      'test-only-acme-key-3f9c1e7a5b2d4c6e8f0a1b3c5d7e9f11', // long, but a phrase, not base64
      Buffer.alloc(31, 7).toString('base64'),
      Buffer.from('0123456789abcdef0123456789abcdef').toString('base64'), // 32 bytes of 16 values, repeated
    ];
    for (const value of bad) {
      try {
        partnerKey(value === undefined ? {} : { REWARDS_KEY_ACME: value }, [partner], partner, 'rewards.config.json');
        expect.unreachable(`accepted ${value}`);
      } catch (err) {
        expect((err as { exitCode: number }).exitCode).toBe(EXIT.CONFIG);
        expect((err as Error).message).toContain('REWARDS_KEY_ACME');
        expect((err as Error).message).toContain('rewards keygen');
        if (value) expect((err as Error).message).not.toContain(value);
      }
    }
  });

  it('generates 32 random bytes as base64, which the checks accept', () => {
    const a = generateKey();
    expect(Buffer.from(a, 'base64')).toHaveLength(MIN_KEY_BYTES);
    expect(keyProblem(a)).toBeNull();
    expect(generateKey()).not.toBe(a);
  });
});
