-- Recent days a provider was asked for that held no final bar yet (a session not yet closed, a
-- provider publishing late). They stay out of the coverage ledger, since the provider may still
-- publish them, but until new data can exist (`final_from`, the first day's close plus the
-- publication lag; or the reader's freshness interval after `checked_at` for a live or late bar)
-- reads do not ask for them again: a range ending today costs one request per new session.
CREATE TABLE recent_checks (
    symbol        TEXT    NOT NULL,
    start_date    TEXT    NOT NULL,
    end_date      TEXT    NOT NULL,
    provider      TEXT    NOT NULL,
    checked_at    INTEGER NOT NULL,
    final_from    INTEGER NOT NULL,
    live          INTEGER NOT NULL,
    PRIMARY KEY (symbol, start_date)
) WITHOUT ROWID;
