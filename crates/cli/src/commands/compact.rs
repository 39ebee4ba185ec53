//! `marketcache compact`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use crate::output::{human_bytes, human_duration};
use crate::settings::Settings;
use crate::wiring::open_store_cache;

pub async fn compact(settings: &Settings) -> Result<ExitCode> {
    let cache = open_store_cache(settings).await?;
    let before = cache.stats().await?;
    let started = Instant::now();
    cache.compact().await?;
    let after = cache.stats().await?;
    outln!(
        "Compacted {} in {}: {} -> {} on disk; bars table {:.1} -> {:.1} bytes per bar ({} bars)",
        cache.describe_store(),
        human_duration(started.elapsed()),
        human_bytes(before.bytes_on_disk),
        human_bytes(after.bytes_on_disk),
        before.bytes_per_bar(),
        after.bytes_per_bar(),
        after.total_bars
    );
    Ok(ExitCode::SUCCESS)
}
