-- Rules and grants: runs, the grants they recorded, and per-campaign state for incremental runs.

CREATE TABLE runs (
  run_id           INTEGER PRIMARY KEY,
  as_of            TEXT    NOT NULL,            -- YYYY-MM-DD
  started_at       TEXT    NOT NULL,
  finished_at      TEXT,
  -- committed: grants recorded, grant file not yet confirmed written; complete: file written.
  status           TEXT    NOT NULL CHECK (status IN ('committed', 'complete')),
  grants           INTEGER NOT NULL,
  amount_cents     INTEGER NOT NULL,
  over_budget      INTEGER NOT NULL,
  file             TEXT    NOT NULL,            -- absolute path of the grant file
  file_sha256      TEXT,
  events_watermark INTEGER NOT NULL,            -- highest events.seq this run saw
  summary          TEXT    NOT NULL             -- JSON: per-campaign figures as printed
);
CREATE INDEX runs_as_of ON runs (as_of);

CREATE TABLE grants (
  grant_id     TEXT    PRIMARY KEY,             -- deterministic from (campaign, rule, user, seq)
  run_id       INTEGER NOT NULL REFERENCES runs (run_id),
  campaign_id  TEXT    NOT NULL,
  rule_id      TEXT    NOT NULL,
  user_id      TEXT    NOT NULL,
  seq          INTEGER NOT NULL,                -- 1 for the first grant of this rule to this member
  reward_code  TEXT    NOT NULL,
  amount_cents INTEGER NOT NULL,
  currency     TEXT    NOT NULL,
  earned_on    TEXT    NOT NULL,                -- member's local date the grant was earned
  UNIQUE (campaign_id, rule_id, user_id, seq)
);
CREATE INDEX grants_run ON grants (run_id);
CREATE INDEX grants_user ON grants (user_id);

-- Where each campaign's last run left off, so the next run only re-evaluates what changed.
CREATE TABLE campaign_state (
  campaign_id      TEXT    PRIMARY KEY,
  fingerprint      TEXT    NOT NULL,            -- hash of the campaign's config: a change forces a full evaluation
  last_as_of       TEXT    NOT NULL,
  events_watermark INTEGER NOT NULL,            -- highest events.seq evaluated
  members_watermark INTEGER NOT NULL,           -- highest members batch evaluated (a partner change alters eligibility)
  over_budget      INTEGER NOT NULL             -- pending over-budget grants force a full evaluation next time
);

-- Partner exports, one row per folder written.
CREATE TABLE exports (
  export_id    INTEGER PRIMARY KEY,
  partner_id   TEXT    NOT NULL,
  as_of        TEXT    NOT NULL,
  dir          TEXT    NOT NULL,
  created_at   TEXT    NOT NULL,
  members      INTEGER NOT NULL,
  rows         INTEGER NOT NULL,                -- data rows over all files
  manifest_sha256 TEXT NOT NULL
);
CREATE INDEX exports_partner ON exports (partner_id, as_of);
