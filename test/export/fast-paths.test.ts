import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { csvRecord, csvText } from '../../src/export/csv.js';
import { neutraliseFormula, stateCode, yearOfDate, zip3 } from '../../src/export/deidentify.js';
import { RESTRICTED_ZIP3 } from '../../src/export/reference-data.js';
import { parseDate } from '../../src/time/datetime.js';

// The export replaced general-purpose code on its hot paths (a regular expression and Date objects
// per birth date, csv-stringify per row): each fast path must give what
// the general code gives, for every input, not only for the ones the CLI tests happen to use.

describe('de-identification fast paths', () => {
  it('yearOfDate is the year parseDate finds, or -1, for any text', () => {
    const inputs: string[] = [];
    // Every day of some years, leap and not, and of months with 28 to 31 days, plus the day after.
    for (const y of ['1900', '1996', '2000', '2023', '2024', '2100', '0000', '0004', '9999']) {
      for (let m = 0; m <= 13; m++) for (let d = 0; d <= 32; d++) inputs.push(`${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`);
    }
    inputs.push('', '2024-1-01', '2024-01-1', '2024/01/01', ' 2024-01-01', '2024-01-01 ', '2024-01-01\n', '+024-01-01', '２０２４-01-01');
    inputs.push('2024-01-01T00:00', '24-01-01', '2024-0a-01', '2024--1-01', '-024-01-01', '2024-01-0٣');
    for (const s of inputs) expect(yearOfDate(s), JSON.stringify(s)).toBe(parseDate(s)?.y ?? -1);
  });

  it('zip3 gives what its regular expression alone gives', () => {
    const reference = (z: string | null) => {
      const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(z ?? '');
      return !m ? '' : RESTRICTED_ZIP3.has(m[1]!) ? '000' : m[1]!;
    };
    const inputs: (string | null)[] = [null, '', '0', '1234', '123456', '12345-6789', '123456789', ' 12345', '1234a', '1234٥', '１２３４５'];
    for (let i = 0; i < 1000; i += 7) inputs.push(`${String(i).padStart(3, '0')}42`);
    for (const z of RESTRICTED_ZIP3) inputs.push(`${z}00`);
    for (const z of inputs) expect(zip3(z), JSON.stringify(z)).toBe(reference(z));
  });

  it('stateCode takes a code as it is only when trimming and upper-casing would not change it', () => {
    for (const s of ['MA', 'ma', ' MA', 'Ma', 'PR', 'XX', '']) expect(stateCode(s)).toBe(['MA', 'ma', ' MA', 'Ma'].includes(s) ? 'MA' : s === 'PR' ? 'PR' : '');
  });
});

describe('CSV dialect', () => {
  // Text cells that need nothing, a formula prefix, quotes, or both; numbers (never neutralised).
  const pieces = ['', 'a', '=', '+', '-', '@', '\t', '\r', '\n', ',', '"', "'", ' ', 'é', '=1,2', '"q"', 'a\r\nb', '-5', '0'];
  const texts: string[] = [];
  for (const a of pieces) for (const b of pieces) texts.push(a + b);

  it('csvText is csv-stringify of the neutralised cell, for every text', () => {
    for (const t of texts) expect(csvText(t), JSON.stringify(t)).toBe(stringify([[neutraliseFormula(t)]]).slice(0, -1));
  });

  it('csvRecord is the record csv-stringify writes for the neutralised row, numbers as they are', () => {
    const rows: (string | number)[][] = [[...texts.slice(0, 40)], [1, -5, 0, 2.5, 'x', '-5', ''], ['', ''], [''], [-1]];
    for (const row of rows) {
      const reference = stringify([row.map((c) => (typeof c === 'string' ? neutraliseFormula(c) : c))]);
      expect(csvRecord(row)).toBe(reference);
    }
  });
});
