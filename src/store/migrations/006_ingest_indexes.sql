-- Ingest speed (issue 2's benchmark). The (user_id, local_date) index on events took an insert at a
-- random place for every event, a third of a large load's time; rules read the rollups, keyed by
-- member, and not raw events by member. Reading raw events by type and date (filtered rollups,
-- retention) uses an index whose inserts land near its end, as exports come in time order.
DROP INDEX IF EXISTS events_user_date;
CREATE INDEX IF NOT EXISTS events_type_date ON events (event_type, local_date);
