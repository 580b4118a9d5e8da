-- The lock's holder, identified by when its process started (boot id and clock ticks since boot,
-- from /proc on Linux; NULL elsewhere): a pid that is alive but started at another time is a reused
-- pid, not the holder. Ticks since boot, unlike wall-clock times, do not move when the clock is set.
ALTER TABLE lock ADD COLUMN pid_start TEXT;
