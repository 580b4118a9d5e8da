-- The nightly pipeline's log, retention bookkeeping.

CREATE TABLE nightly_runs (
  nightly_id  INTEGER PRIMARY KEY,
  as_of       TEXT    NOT NULL,
  started_at  TEXT    NOT NULL,
  finished_at TEXT,
  -- running: in progress or killed (the next nightly resumes it); ok; partial: some step failed, others ran;
  -- failed: the runs failed, so the next night catches this date up.
  status      TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
  exit_code   INTEGER,
  summary     TEXT                              -- JSON: what each step did
);
CREATE INDEX nightly_runs_as_of ON nightly_runs (as_of);

CREATE TABLE prunes (
  prune_id        INTEGER PRIMARY KEY,
  pruned_at       TEXT    NOT NULL,
  events_before   TEXT,                         -- events with a local date before this were deleted
  events_deleted  INTEGER NOT NULL,
  rejects_before  TEXT,                         -- rejected rows recorded before this were deleted
  rejects_deleted INTEGER NOT NULL
);
