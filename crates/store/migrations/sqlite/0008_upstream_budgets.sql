-- Each provider's request budget, counted here so that every process sharing the cache spends
-- one budget: requests this minute and this day (UTC), and a pause a throttling answer asked for.
CREATE TABLE upstream_budgets (
    provider     TEXT    PRIMARY KEY,
    paused_until INTEGER,
    minute_start INTEGER NOT NULL,
    minute_count INTEGER NOT NULL,
    day          TEXT    NOT NULL,
    day_count    INTEGER NOT NULL
) WITHOUT ROWID;
