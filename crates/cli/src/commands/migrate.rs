//! `marketcache migrate`.

use std::process::ExitCode;

use anyhow::Result;
use marketcache_domain::MigrationStep;

use crate::settings::Settings;

/// Prints the migration steps, each with the tables and indexes it creates.
pub fn print_migration(target: &str, steps: &[MigrationStep]) {
    let rule = "=".repeat(60);
    outln!("{rule}\nMarket Data Cache Migration\n{rule}\nDatabase: {target}");
    for step in steps {
        if step.applied_now {
            outln!("Applying {:04} {}...", step.version, step.name);
            for created in &step.creates {
                outln!("✓ Created {created}");
            }
        } else {
            outln!("✓ {:04} {} already applied", step.version, step.name);
        }
    }
    let version = steps.iter().map(|step| step.version).max().unwrap_or(0);
    let applied = steps.iter().filter(|step| step.applied_now).count();
    if applied == 0 {
        outln!("✅ Database already up to date (schema version {version}); nothing to do.");
    } else {
        outln!(
            "✅ Migration completed successfully! ({applied} applied, schema version {version})"
        );
    }
}

pub async fn migrate(settings: &Settings) -> Result<ExitCode> {
    let store = crate::wiring::open_store_unmigrated(settings).await?;
    let steps = store.migrate().await?;
    print_migration(&store.describe(), &steps);
    Ok(ExitCode::SUCCESS)
}
