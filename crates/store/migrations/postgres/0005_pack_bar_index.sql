-- Bars arrive in key order, so the primary key's pages only ever split at the right edge: fill
-- them completely instead of leaving the default 10% free for inserts that never come.
ALTER INDEX market_data_cache_pkey SET (fillfactor = 100);
