-- Splits and dividends, so that reads adjust raw prices at read time: a split announced after a
-- range was cached re-bases the series without re-downloading it. `value` is the split ratio
-- (new shares per old share) or the cash paid per share.
CREATE TABLE corporate_actions (
    symbol     TEXT    NOT NULL,
    ex_date    TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('split', 'dividend')),
    value      REAL    NOT NULL CHECK (value > 0),
    provider   TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (symbol, ex_date, kind)
) WITHOUT ROWID;
-- Bars fetched before they could be final (a live session, the provider's publication lag).
-- Their days are never in the coverage ledger, so the next request after they settle re-fetches
-- them; the row goes when a final bar replaces them.
CREATE TABLE provisional_bars (
    symbol     TEXT    NOT NULL,
    date       TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (symbol, date)
) WITHOUT ROWID;
-- Rows a provider sent that failed the bar checks (nulls, low above high, …): never stored,
-- but counted per request.
ALTER TABLE coverage_ledger ADD COLUMN rejected_rows INTEGER NOT NULL DEFAULT 0;
