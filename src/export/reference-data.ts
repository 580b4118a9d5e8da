/**
 * Reference lists the de-identification rules depend on, kept here as data and nowhere else, so an
 * update (a new census, a new territory code) is a one-line change that the tests then pin.
 */

/**
 * Three-digit ZIP areas with 20,000 people or fewer, which HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(B))
 * requires to be replaced by `000`. This is the list HHS publishes from the 2000 Census ("Guidance
 * Regarding Methods for De-identification of PHI", section 3.3), which is still the one HHS points to.
 */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
  '036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893',
]);

/**
 * USPS codes for the states, DC, the territories and the military "states". A `state` value outside this
 * list is dropped rather than exported: the column is free text at ingest, and free text is where a
 * name or an address ends up by mistake.
 */
export const US_STATE_CODES: ReadonlySet<string> = new Set([
  'AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'DC', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN', 'IA', 'KS', 'KY', 'LA',
  'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND', 'OH', 'OK', 'OR',
  'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY',
  'AS', 'GU', 'MP', 'PR', 'VI', 'UM', 'FM', 'MH', 'PW', 'AA', 'AE', 'AP',
]);

/** Safe Harbor: ages over 89 are aggregated into one category. */
export const TOP_CODE_AGE = 90;
