-- Bars of offline sources (made-up `synthetic`, the user's `csv` files) move to keys of their
-- own, `AAPL@synthetic`, so that they never answer a request for market data (nor the reverse).
-- A symbol whose every ledger entry names one offline source moves whole. A symbol whose ledger
-- mixes an offline source with anything else cannot be told apart bar by bar: it is dropped,
-- to be fetched again from the market on its next request.
CREATE TEMP TABLE offline_moves AS
    SELECT symbol, MIN(provider) AS provider
    FROM coverage_ledger
    WHERE strpos(symbol, '@') = 0
    GROUP BY symbol
    HAVING COUNT(DISTINCT provider) = 1 AND MIN(provider) IN ('synthetic', 'csv');
CREATE TEMP TABLE offline_mixed AS
    SELECT DISTINCT symbol
    FROM coverage_ledger
    WHERE strpos(symbol, '@') = 0 AND provider IN ('synthetic', 'csv')
      AND symbol NOT IN (SELECT symbol FROM offline_moves);

DELETE FROM market_data_cache WHERE symbol IN (SELECT symbol FROM offline_mixed);
DELETE FROM coverage_ledger WHERE symbol IN (SELECT symbol FROM offline_mixed);
DELETE FROM corporate_actions WHERE symbol IN (SELECT symbol FROM offline_mixed);
DELETE FROM provisional_bars WHERE symbol IN (SELECT symbol FROM offline_mixed);

UPDATE market_data_cache SET symbol = symbol || '@' ||
    (SELECT provider FROM offline_moves m WHERE m.symbol = market_data_cache.symbol)
    WHERE symbol IN (SELECT symbol FROM offline_moves);
UPDATE coverage_ledger SET symbol = symbol || '@' || provider
    WHERE symbol IN (SELECT symbol FROM offline_moves);
UPDATE corporate_actions SET symbol = symbol || '@' ||
    (SELECT provider FROM offline_moves m WHERE m.symbol = corporate_actions.symbol)
    WHERE symbol IN (SELECT symbol FROM offline_moves);
UPDATE provisional_bars SET symbol = symbol || '@' ||
    (SELECT provider FROM offline_moves m WHERE m.symbol = provisional_bars.symbol)
    WHERE symbol IN (SELECT symbol FROM offline_moves);

-- Versions only grow: the old keys change (they lost their bars), the new ones start above 0.
INSERT INTO symbol_versions (symbol, version)
    SELECT symbol || '@' || provider, 1 FROM offline_moves;
UPDATE symbol_versions SET version = version + 1
    WHERE symbol IN (SELECT symbol FROM offline_moves UNION SELECT symbol FROM offline_mixed);

DROP TABLE offline_moves;
DROP TABLE offline_mixed;
