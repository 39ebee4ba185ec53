-- The ranges of days already asked of a provider, so that they are never asked again.
CREATE TABLE coverage_ledger (
    id         BIGSERIAL   PRIMARY KEY,
    symbol     TEXT        NOT NULL,
    start_date DATE        NOT NULL,
    end_date   DATE        NOT NULL,
    provider   TEXT        NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    bars       INTEGER     NOT NULL
);
CREATE INDEX idx_coverage_ledger_symbol ON coverage_ledger (symbol, start_date);
