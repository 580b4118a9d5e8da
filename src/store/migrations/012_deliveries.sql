-- Deliveries of partner exports to their SFTP servers: a record of every disclosure (what went
-- where, when, and its checksum), and what makes a delivery happen exactly once. A row is written
-- before anything is uploaded ('uploading', with the remote folder it will become) and finished
-- when the folder is in place with its _SUCCESS ('delivered'), or left 'failed' with the error; a
-- rerun resumes an 'uploading' one from what the server holds.
CREATE TABLE deliveries (
  delivery_id     INTEGER PRIMARY KEY,
  partner_id      TEXT NOT NULL,
  as_of           TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  host            TEXT NOT NULL,
  remote_path     TEXT NOT NULL,          -- the final folder: <remote_dir>/<as-of>[.vN]
  files           TEXT NOT NULL,          -- JSON [{name, bytes, sha256}] as sent
  bytes           INTEGER NOT NULL,
  encrypted       INTEGER NOT NULL CHECK (encrypted IN (0, 1)),
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  status          TEXT NOT NULL CHECK (status IN ('uploading', 'delivered', 'failed')),
  error           TEXT
);
CREATE INDEX deliveries_partner ON deliveries (partner_id, as_of);
