//! Text shapes of command output: bars as CSV or JSON, sizes and durations for people.

use std::io::Write;
use std::time::Duration;

use marketcache_cache::{CacheError, SymbolBars, bar_text};
use marketcache_domain::Packed;

/// `println!` for command output: when the reader has gone (a closed pipe, as in `| head`), the
/// command ends quietly with exit 0, as Unix tools do, rather than panicking.
macro_rules! outln {
    () => {
        $crate::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout for [`outln!`]: exit 0 on a closed pipe, 1 on any other failure.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(1);
        }
    }
}

/// The bars and report as one JSON object and a newline.
pub fn bars_json(response: &SymbolBars) -> Result<Vec<u8>, serde_json::Error> {
    let mut text = bar_text::symbol_bars_json(response)?;
    text.push(b'\n');
    Ok(text)
}

/// What a warm's packing of the store did, for people; `None` when it did nothing.
pub fn packing_line(
    packed: &Result<Option<Packed>, CacheError>,
    took: std::time::Duration,
) -> Option<String> {
    match packed {
        Ok(None) => None,
        Ok(Some(packed)) => Some(format!(
            "Packed the database after this bulk load: {} -> {} on disk, {}",
            human_bytes(packed.bytes_before),
            human_bytes(packed.bytes_after),
            human_duration(took)
        )),
        Err(error) => Some(format!(
            "warning: the database was not packed after this bulk load ({error}); every bar is \
             stored, and `marketcache compact` packs it later"
        )),
    }
}

/// `1.5 MB`, `820 kB`, `12 B`.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.0} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// `812 µs`, `4.2 ms`, `3.10 s`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 0.001 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(human_bytes(3_456_789), "3.5 MB");
        assert_eq!(human_bytes(820_400), "820 kB");
        assert_eq!(human_duration(Duration::from_micros(812)), "812 µs");
        assert_eq!(human_duration(Duration::from_micros(4_240)), "4.2 ms");
        assert_eq!(human_duration(Duration::from_millis(3_100)), "3.10 s");
    }
}
