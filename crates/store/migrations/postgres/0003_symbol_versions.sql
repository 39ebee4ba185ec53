-- A counter per symbol, bumped in the same transaction as every change to its bars or coverage,
-- so that in-memory copies in any process can tell whether they are still current.
CREATE TABLE symbol_versions (
    symbol  TEXT   PRIMARY KEY,
    version BIGINT NOT NULL
);
