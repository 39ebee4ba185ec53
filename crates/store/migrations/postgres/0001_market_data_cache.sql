-- One row per (symbol, date). The 8-byte columns come first so that PostgreSQL needs no
-- alignment padding between them; queries name their columns, so the order is only physical.
CREATE TABLE market_data_cache (
    open       DOUBLE PRECISION NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL,
    close      DOUBLE PRECISION NOT NULL,
    volume     BIGINT           NOT NULL,
    created_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ      NOT NULL DEFAULT now(),
    date       DATE             NOT NULL,
    symbol     TEXT             NOT NULL,
    CONSTRAINT market_data_cache_pkey PRIMARY KEY (symbol, date)
);
