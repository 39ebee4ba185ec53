-- Recent days a provider was asked for that held no final bar yet (a session not yet closed, a
-- provider publishing late). They stay out of the coverage ledger, since the provider may still
-- publish them, but until `recheck_after` (when new data can first exist) reads do not ask for
-- them again: a range ending today costs one request per new session, not one per read.
CREATE TABLE recent_checks (
    symbol        TEXT        NOT NULL,
    start_date    DATE        NOT NULL,
    end_date      DATE        NOT NULL,
    provider      TEXT        NOT NULL,
    checked_at    TIMESTAMPTZ NOT NULL,
    recheck_after TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, start_date)
);
