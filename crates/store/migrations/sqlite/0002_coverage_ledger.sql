-- The ranges of days already asked of a provider, so that they are never asked again.
CREATE TABLE coverage_ledger (
    id         INTEGER PRIMARY KEY,
    symbol     TEXT    NOT NULL,
    start_date TEXT    NOT NULL,
    end_date   TEXT    NOT NULL,
    provider   TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL,
    bars       INTEGER NOT NULL
);
CREATE INDEX idx_coverage_ledger_symbol ON coverage_ledger (symbol, start_date);
