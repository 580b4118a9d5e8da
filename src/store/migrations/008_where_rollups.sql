-- Rollups for rules with a `where` filter, and an index for eligibility.
--
-- daily_activity cannot serve `where` rules (it has no properties), and reading raw events per
-- member needs an index on events that ingest does not keep. So `rewards run` keeps one rollup per
-- filtered source, like daily_activity but of the matching events only, and keeps it itself: the
-- first run that needs a source builds it from the events of its type; later runs read only the
-- events past the source's watermark (a rowid range) and fold them in now and then
-- (src/store/sources.ts).

CREATE TABLE activity_sources (
  source_id  INTEGER PRIMARY KEY,
  source_key TEXT    NOT NULL UNIQUE,           -- canonical JSON of [event_type, where] (src/store/sources.ts)
  event_type TEXT    NOT NULL,
  -- The filter as [[json path, [allowed values]], ...]: the trigger below matches with exactly the
  -- paths and values the run binds when it folds events in.
  where_json TEXT    NOT NULL,
  watermark  INTEGER NOT NULL                   -- events with seq <= this are counted in source_activity
);

-- (source, user_id, local_date) -> matching events: read member by member, like daily_activity.
CREATE TABLE source_activity (
  source_id  INTEGER NOT NULL REFERENCES activity_sources (source_id),
  user_id    TEXT    NOT NULL,
  local_date TEXT    NOT NULL,
  events     INTEGER NOT NULL,
  PRIMARY KEY (source_id, user_id, local_date)
) WITHOUT ROWID;

-- `rewards prune` deletes raw events and keeps the rollups; an event pruned before a run folded it
-- into a source would otherwise be lost to that source while daily_activity still counts it. So a
-- deleted event past a source's watermark is counted into that source on its way out.
CREATE TRIGGER events_delete_into_sources AFTER DELETE ON events
BEGIN
  INSERT INTO source_activity (source_id, user_id, local_date, events)
  SELECT s.source_id, OLD.user_id, OLD.local_date, 1
  FROM activity_sources s
  WHERE s.event_type = OLD.event_type
    AND OLD.seq > s.watermark
    AND NOT EXISTS (
      SELECT 1 FROM json_each(s.where_json) w
      WHERE NOT EXISTS (
        SELECT 1 FROM json_each(w.value, '$[1]') v
        WHERE v.value = json_extract(OLD.properties, json_extract(w.value, '$[0]'))
      )
    )
  ON CONFLICT (source_id, user_id, local_date) DO UPDATE SET events = events + 1;
END;

-- Eligibility of the members an incremental run re-reads (is this member's partner one of the
-- campaign's?) and the list of a campaign's eligible members: both answered from this index alone,
-- a fifth of the members table's pages.
CREATE INDEX members_partner_user ON members (partner, user_id);
