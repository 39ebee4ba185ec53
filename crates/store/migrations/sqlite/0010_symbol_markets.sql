-- The market a provider said each symbol trades on (Yahoo's exchangeName and
-- exchangeTimezoneName): its code, time zone and calendar, which plan the symbol's reads in
-- place of what its form suggests.
CREATE TABLE symbol_markets (
    symbol      TEXT    PRIMARY KEY,
    exchange    TEXT    NOT NULL,
    time_zone   TEXT    NOT NULL,
    calendar    TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
