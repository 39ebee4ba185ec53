-- What each ledger entry's prices are: as traded ('raw') or adjusted by the provider
-- ('split_and_dividend_adjusted', Stooq). A series is served in one basis, so reads plan and
-- serve only the entries of their provider's basis. Entries written before this step came from
-- providers that all stored raw prices but Stooq, whose entries are marked adjusted here.
ALTER TABLE coverage_ledger ADD COLUMN basis TEXT NOT NULL DEFAULT 'raw';
UPDATE coverage_ledger SET basis = 'split_and_dividend_adjusted' WHERE provider = 'stooq';
