//! The SQLite file on a disk that fills up, then on one mounted read-only (a small tmpfs of the
//! test's own; the test needs the right to mount, and says so when it is skipped): a clear error
//! with its cause, nothing corrupted, reads keep working, and the warm finishes once there is
//! room again.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Sandbox, csv_rows};

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(sandbox: &Sandbox, size: &str) -> Option<Self> {
        let mount_point = sandbox.join("small-disk");
        std::fs::create_dir_all(&mount_point).unwrap_or_else(|e| panic!("{e}"));
        let options = format!("size={size}");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&mount_point)
            .output()
            .is_ok_and(|output| output.status.success());
        if !mounted {
            marketcache_testkit::report_skip("cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Self { mount_point })
    }

    fn remount(&self, options: &str) {
        let remounted = Command::new("mount")
            .args(["-o", options])
            .arg(&self.mount_point)
            .status()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(remounted.success(), "mount -o {options} failed");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mount_point.join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

fn fill(path: &Path, megabytes: usize) {
    std::fs::write(path, vec![0_u8; megabytes * 1024 * 1024]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_full_disk_then_a_read_only_one_corrupt_nothing_and_reads_go_on() {
    let sandbox = Sandbox::new();
    let Some(disk) = SmallDisk::mount(&sandbox, "8m") else {
        return;
    };
    let url = format!("sqlite://{}", disk.path("cache.sqlite").display());
    let run =
        |args: &[&str]| sandbox.output(sandbox.command().args(["--database-url", &url]).args(args));
    let warm = [
        "warm",
        "AAPL",
        "MSFT",
        "--start",
        "1990-01-01",
        "--end",
        "2025-12-31",
    ];
    // Room for the schema and a few chunks only.
    fill(&disk.path("filler"), 7);
    let full = run(&warm);
    full.expect_code(1);
    assert!(
        full.stdout.contains("database or disk is full"),
        "the cause is named: {}",
        full.stdout
    );
    // What was stored is whole and readable.
    run(&["verify"]).expect_code(0);
    let stored = run(&[
        "get",
        "AAPL",
        "--offline",
        "--start",
        "1990-01-01",
        "--end",
        "1990-12-31",
    ]);
    stored.expect_code(0);
    assert!(!csv_rows(&stored.stdout).is_empty(), "{}", stored.stderr);

    // Room again: the warm finishes, and every stored day is the provider's.
    std::fs::remove_file(disk.path("filler")).unwrap_or_else(|e| panic!("{e}"));
    let finished = run(&warm);
    finished.expect_code(0);
    assert!(
        finished.stdout.contains("2 symbol(s): 2 ok, 0 failed"),
        "{}",
        finished.stdout
    );
    sandbox.verify_against_synthetic(&url);

    // Read-only: reads go on, a read that would fetch fails naming why, nothing changes.
    disk.remount("remount,ro");
    let cached = run(&[
        "get",
        "MSFT",
        "--offline",
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-31",
    ]);
    cached.expect_code(0);
    assert_eq!(csv_rows(&cached.stdout).len(), 21);
    let fetching = run(&[
        "get",
        "NVDA",
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-31",
    ]);
    fetching.expect_code(1);
    assert!(
        fetching.stderr.contains("Read-only file system"),
        "{}",
        fetching.stderr
    );
    run(&["verify"]).expect_code(0);
}
