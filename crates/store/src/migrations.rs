//! The versioned schema migrations, embedded in the binary, one SQL file per step and backend.
//!
//! Both backends apply the same numbered steps and record them in `schema_migrations`, so a
//! database says which version it is at and `migrate` is safe to run any number of times.

/// One numbered schema step with its SQL for each backend.
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
    /// What the step creates, as `migrate` reports it.
    pub creates: &'static [&'static str],
    /// What it creates on SQLite, where that differs.
    pub creates_on_sqlite: Option<&'static [&'static str]>,
}

/// Which backend a step is reported for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Every migration, oldest first. Append only: an applied step is never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "market_data_cache",
        sqlite: include_str!("../migrations/sqlite/0001_market_data_cache.sql"),
        postgres: include_str!("../migrations/postgres/0001_market_data_cache.sql"),
        creates: &[
            "table market_data_cache",
            "primary key (symbol, date), serving symbol and date-range lookups",
        ],
        creates_on_sqlite: None,
    },
    Migration {
        version: 2,
        name: "coverage_ledger",
        sqlite: include_str!("../migrations/sqlite/0002_coverage_ledger.sql"),
        postgres: include_str!("../migrations/postgres/0002_coverage_ledger.sql"),
        creates: &["table coverage_ledger", "index idx_coverage_ledger_symbol"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 3,
        name: "symbol_versions",
        sqlite: include_str!("../migrations/sqlite/0003_symbol_versions.sql"),
        postgres: include_str!("../migrations/postgres/0003_symbol_versions.sql"),
        creates: &["table symbol_versions"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 4,
        name: "corporate_actions",
        sqlite: include_str!("../migrations/sqlite/0004_corporate_actions.sql"),
        postgres: include_str!("../migrations/postgres/0004_corporate_actions.sql"),
        creates: &[
            "table corporate_actions",
            "table provisional_bars",
            "column coverage_ledger.rejected_rows",
        ],
        creates_on_sqlite: None,
    },
    Migration {
        version: 5,
        name: "pack_bar_index",
        sqlite: include_str!("../migrations/sqlite/0005_pack_bar_index.sql"),
        postgres: include_str!("../migrations/postgres/0005_pack_bar_index.sql"),
        creates: &["packed primary-key pages (fill factor 100)"],
        // SQLite has no fill factor: the step only keeps both backends at one version.
        creates_on_sqlite: Some(&[]),
    },
    Migration {
        version: 6,
        name: "offline_data_sets",
        sqlite: include_str!("../migrations/sqlite/0006_offline_data_sets.sql"),
        postgres: include_str!("../migrations/postgres/0006_offline_data_sets.sql"),
        creates: &["keys of their own (SYMBOL@source) for bars of synthetic and csv sources"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 7,
        name: "recent_checks",
        sqlite: include_str!("../migrations/sqlite/0007_recent_checks.sql"),
        postgres: include_str!("../migrations/postgres/0007_recent_checks.sql"),
        creates: &["table recent_checks"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 8,
        name: "upstream_budgets",
        sqlite: include_str!("../migrations/sqlite/0008_upstream_budgets.sql"),
        postgres: include_str!("../migrations/postgres/0008_upstream_budgets.sql"),
        creates: &["table upstream_budgets"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 9,
        name: "price_basis",
        sqlite: include_str!("../migrations/sqlite/0009_price_basis.sql"),
        postgres: include_str!("../migrations/postgres/0009_price_basis.sql"),
        creates: &["column coverage_ledger.basis (raw or adjusted by the provider)"],
        creates_on_sqlite: None,
    },
    Migration {
        version: 10,
        name: "symbol_markets",
        sqlite: include_str!("../migrations/sqlite/0010_symbol_markets.sql"),
        postgres: include_str!("../migrations/postgres/0010_symbol_markets.sql"),
        creates: &["table symbol_markets (the market a provider named for each symbol)"],
        creates_on_sqlite: None,
    },
];

/// The `schema_migrations` table, identical on both backends.
pub(crate) const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
)";

/// The step as reported to the caller.
pub(crate) fn step(
    migration: &Migration,
    backend: Backend,
    applied_now: bool,
) -> marketcache_domain::MigrationStep {
    let creates = match (backend, migration.creates_on_sqlite) {
        (Backend::Sqlite, Some(creates)) => creates,
        _ => migration.creates,
    };
    marketcache_domain::MigrationStep {
        version: migration.version,
        name: migration.name.to_string(),
        applied_now,
        creates: creates.iter().map(|line| line.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_for_postgresql_alone_reports_nothing_created_on_sqlite() {
        for migration in MIGRATIONS {
            let (on_sqlite, on_postgres) = (
                step(migration, Backend::Sqlite, true).creates,
                step(migration, Backend::Postgres, true).creates,
            );
            if migration.name == "pack_bar_index" {
                assert!(on_sqlite.is_empty(), "{on_sqlite:?}");
                assert_eq!(on_postgres, ["packed primary-key pages (fill factor 100)"]);
            } else {
                assert_eq!(on_sqlite, on_postgres);
                assert!(!on_sqlite.is_empty(), "{}", migration.name);
            }
        }
    }
}
