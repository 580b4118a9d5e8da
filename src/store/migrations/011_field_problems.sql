-- A member row is rejected only when its user_id is missing or invalid: an invalid optional field
-- (email, names, birth date, ZIP, state, consent) is stored empty (consent as false) and recorded
-- here, so that a typo never costs a member its partner, consent or rewards. `rewards rejects`
-- lists these beside the rejected rows (kind "field"); they do not count toward --max-reject-rate.
CREATE TABLE field_problems (
  batch_id   INTEGER NOT NULL REFERENCES batches (batch_id),
  line       INTEGER NOT NULL,
  field      TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  reason     TEXT    NOT NULL,
  created_at TEXT    NOT NULL,
  PRIMARY KEY (batch_id, line, field)
);

ALTER TABLE batches ADD COLUMN field_problems INTEGER NOT NULL DEFAULT 0;
