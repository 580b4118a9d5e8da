/**
 * Reference lists the de-identification rules depend on, kept here as data and nowhere else, so an
 * update (a new census, a new territory code) is a one-line change that the tests then pin.
 */

/**
 * Three-digit ZIP areas that HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(B)) requires to be replaced
 * by `000`: those whose ZIP Code Tabulation Areas together hold 20,000 people or fewer. Two lists:
 * - HHS's, from the 2000 Census ("Guidance Regarding Methods for De-identification of PHI",
 *   section 3.3): 17 areas;
 * - the one computed from the 2010 Census (the list Microsoft's Tools-for-Health-Data-Anonymization
 *   ships as `restrictedZipCodeTabulationAreas`): 14 areas, adding 205 and 369.
 * An area either census puts at 20,000 or fewer is restricted: hiding a populous area costs a little
 * detail, showing a small one breaks the rule.
 */
export const RESTRICTED_ZIP3_SOURCES = {
  census2000_hhs: ['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893'],
  census2010: ['036', '059', '102', '203', '205', '369', '556', '692', '821', '823', '878', '879', '884', '893'],
} as const;

export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([...RESTRICTED_ZIP3_SOURCES.census2000_hhs, ...RESTRICTED_ZIP3_SOURCES.census2010]);


/**
 * Birth years are top-coded at this age, not at Safe Harbor's 90. A partner keeps every release under
 * the same pseudonym: a member shown as `1936` one year and as the top code the next has had their
 * birth year revealed at the age the code switches. At 90 that is exactly what Safe Harbor forbids;
 * at 80 it is the birth year of an 80-year-old, which any single release may show. The ten years of
 * margin are the horizon: keys (hence pseudonyms) should be rotated within ten years (README).
 */
export const TOP_CODE_AGE = 80;
