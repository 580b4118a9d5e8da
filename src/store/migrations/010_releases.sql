-- The release ledger: what each partner has received. A partner keeps every export and can diff
-- them, so what may be released next depends on what was released before. One row per partner and
-- period: a Safe Harbor export as of any day of a period carries the data up to the end of the last
-- complete period (data_through), and every export that falls in the same period re-issues exactly
-- these data files (content: JSON with each file's name, rows, bytes and sha256). Non-Safe Harbor exports (expert
-- determination) are recorded too, one row per as-of date, with precision_rule 'as_of'.
CREATE TABLE releases (
  release_id      INTEGER PRIMARY KEY,
  partner_id      TEXT NOT NULL,
  period          TEXT NOT NULL,
  data_through    TEXT NOT NULL,
  precision_rule  TEXT NOT NULL CHECK (precision_rule IN ('period', 'as_of')),
  date_precision  TEXT NOT NULL,
  first_as_of     TEXT NOT NULL,
  dir             TEXT NOT NULL,              -- the folder that holds these files now
  content         TEXT NOT NULL,              -- JSON: files, members, excluded_no_consent, k_anonymity, suppressed_cells
  created_at      TEXT NOT NULL,
  UNIQUE (partner_id, period, precision_rule)
);

ALTER TABLE exports ADD COLUMN release_id INTEGER REFERENCES releases (release_id);
