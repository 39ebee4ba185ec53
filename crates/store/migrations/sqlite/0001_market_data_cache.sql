-- One row per (symbol, date). The primary key is the table's own B-tree (WITHOUT ROWID), so
-- lookups by symbol and by symbol + date range need no second index and no rowid per bar.
-- Dates are ISO text so that the seed's verification SQL prints readable dates; timestamps are
-- Unix seconds to keep a bar near 70 bytes on disk.
CREATE TABLE market_data_cache (
    symbol     TEXT    NOT NULL,
    date       TEXT    NOT NULL,
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL,
    close      REAL    NOT NULL,
    volume     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;
