-- Ingest: batches (one per input file), events, members, rejected rows, and the daily rollup the rules read.

CREATE TABLE batches (
  batch_id      INTEGER PRIMARY KEY,
  kind          TEXT    NOT NULL CHECK (kind IN ('events', 'members')),
  path          TEXT    NOT NULL,              -- as given on the command line ('-' for stdin)
  name          TEXT    NOT NULL,              -- file name without folders
  sha256        TEXT    NOT NULL,              -- of the file's bytes as stored (compressed if .gz)
  size_bytes    INTEGER NOT NULL,
  format        TEXT    NOT NULL,              -- csv | tsv | ndjson
  status        TEXT    NOT NULL CHECK (status IN ('pending', 'complete', 'failed')),
  rows          INTEGER NOT NULL DEFAULT 0,    -- data records read (header excluded)
  inserted      INTEGER NOT NULL DEFAULT 0,
  duplicates    INTEGER NOT NULL DEFAULT 0,
  conflicts     INTEGER NOT NULL DEFAULT 0,
  rejected      INTEGER NOT NULL DEFAULT 0,    -- includes conflicts
  extra_columns INTEGER NOT NULL DEFAULT 0,    -- columns present in the file and ignored
  error         TEXT,
  started_at    TEXT    NOT NULL,
  finished_at   TEXT,
  records_done  INTEGER NOT NULL DEFAULT 0     -- resume point: records [0, n) are committed
);
CREATE INDEX batches_sha ON batches (sha256, kind, status);

CREATE TABLE events (
  seq          INTEGER PRIMARY KEY,            -- ingest order: the watermark incremental runs use
  event_id     TEXT    NOT NULL UNIQUE,
  user_id      TEXT    NOT NULL,
  event_type   TEXT    NOT NULL,
  occurred_at  TEXT    NOT NULL,               -- as written in the export
  timezone     TEXT,                           -- IANA zone from the export, if any
  local_date   TEXT    NOT NULL,               -- YYYY-MM-DD, the member's local day (see README)
  properties   TEXT,                           -- canonical JSON object, or NULL
  content_hash TEXT    NOT NULL,               -- tells a true duplicate from a conflicting one
  batch_id     INTEGER NOT NULL REFERENCES batches (batch_id),
  line         INTEGER NOT NULL
);
CREATE INDEX events_user_date ON events (user_id, local_date);

-- (user_id, event_type, local_date) -> events, maintained in the same transaction as the inserts.
CREATE TABLE daily_activity (
  user_id    TEXT    NOT NULL,
  event_type TEXT    NOT NULL,
  local_date TEXT    NOT NULL,
  events     INTEGER NOT NULL,
  PRIMARY KEY (user_id, event_type, local_date)
) WITHOUT ROWID;
CREATE INDEX daily_activity_type_date ON daily_activity (event_type, local_date);

-- Personal data: kept here only, never copied into events or exports.
CREATE TABLE members (
  user_id       TEXT    PRIMARY KEY,
  email         TEXT,
  first_name    TEXT,
  last_name     TEXT,
  birth_date    TEXT,                          -- YYYY-MM-DD
  zip           TEXT,
  state         TEXT,
  partner       TEXT,
  share_consent INTEGER NOT NULL DEFAULT 0 CHECK (share_consent IN (0, 1)),
  batch_id      INTEGER NOT NULL REFERENCES batches (batch_id),
  line          INTEGER NOT NULL,
  updated_at    TEXT    NOT NULL
);
CREATE INDEX members_partner ON members (partner);

CREATE TABLE rejects (
  reject_id  INTEGER PRIMARY KEY,
  batch_id   INTEGER NOT NULL REFERENCES batches (batch_id),
  line       INTEGER NOT NULL,                 -- line where the record starts (1 = header in CSV)
  raw        TEXT    NOT NULL,
  reason     TEXT    NOT NULL,
  created_at TEXT    NOT NULL,
  UNIQUE (batch_id, line)
);

-- One writer at a time; a row here is the lock, checked against the holder's pid.
CREATE TABLE lock (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  pid        INTEGER NOT NULL,
  host       TEXT    NOT NULL,
  command    TEXT    NOT NULL,
  started_at TEXT    NOT NULL
);
