//! PostgreSQL stopped and started again under a running warm and a running `serve`, on a
//! private cluster (`initdb`, `pg_ctl`) on a spare port: the warm waits the outage out and
//! finishes with everything stored right; `/api/health` reports the outage and recovers; no
//! process of ours is restarted.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::{http_get, start_serve};
use crate::support::{Sandbox, finish, spawn};

/// A PostgreSQL cluster of this test's own, removed when dropped.
struct PrivateCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// Run as the `postgres` user: the server refuses to run as root.
    as_postgres: bool,
}

impl PrivateCluster {
    /// A new cluster listening on a spare port, or `None` (reported) when this machine has no
    /// PostgreSQL server binaries and the PostgreSQL tests are not required.
    fn start() -> Option<Self> {
        let Some(bin) = server_bin_dir() else {
            let reason = "no initdb/pg_ctl found (PostgreSQL server binaries)";
            assert!(
                std::env::var("MARKETCACHE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{reason}, and MARKETCACHE_REQUIRE_POSTGRES=1"
            );
            marketcache_testkit::report_skip(reason);
            return None;
        };
        let as_postgres = run_output("id", &["-u"]).trim() == "0";
        let data = PathBuf::from(
            run_as(as_postgres, "mktemp", &["-d", "/tmp/marketcache-pg-XXXXXX"]).trim(),
        );
        let port = spare_port();
        let cluster = Self {
            bin,
            data,
            port,
            as_postgres,
        };
        let data = cluster.data.display().to_string();
        cluster.tool(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        );
        cluster.start_server();
        Some(cluster)
    }

    fn tool(&self, name: &str, args: &[&str]) -> String {
        let program = self.bin.join(name).display().to_string();
        run_as(self.as_postgres, &program, args)
    }

    fn start_server(&self) {
        let data = self.data.display().to_string();
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let log = format!("{data}/server.log");
        self.tool(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    fn stop_server(&self) {
        let data = self.data.display().to_string();
        self.tool("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let _ = Command::new(if self.as_postgres { "runuser" } else { &pg_ctl })
            .args(if self.as_postgres {
                vec!["-u", "postgres", "--", &pg_ctl]
            } else {
                vec![]
            })
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else Debian's layout.
fn server_bin_dir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"));
    from_config
        .into_iter()
        .chain(debian)
        .find(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
}

fn run_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run_as(as_postgres: bool, program: &str, args: &[&str]) -> String {
    if as_postgres {
        let mut all = vec!["-u", "postgres", "--", program];
        all.extend_from_slice(args);
        run_output("runuser", &all)
    } else {
        run_output(program, args)
    }
}

/// A port nothing listens on right now.
fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no spare port: {e}"))
}

/// Polls `/api/health` until its status line contains `wanted`; how long that took.
fn health_becomes(address: &str, wanted: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = http_get(address, "/api/health");
        if status.contains(wanted) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "health still {status} after {within:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_warm_and_a_server_ride_out_a_postgresql_restart() {
    if marketcache_testkit::postgres_admin_url().is_none() {
        return;
    }
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let admin = cluster.url("postgres");
    let sandbox = Sandbox::new();
    sandbox
        .run_bare(&["--database-url", &admin, "migrate"])
        .expect_code(0);
    let (mut server, address) = start_serve(&sandbox, &admin);
    health_becomes(&address, "200", Duration::from_secs(10));

    let symbols = ["R01", "R02", "R03", "R04", "R05", "R06"];
    let mut warm = sandbox.command();
    warm.args(["--database-url", &admin, "--latency-ms", "40", "warm"])
        .args(symbols)
        .args(["--start", "2000-01-01", "--end", "2025-12-31"]);
    let warming = spawn(&mut warm);
    std::thread::sleep(Duration::from_millis(700));
    cluster.stop_server();
    let noticed = health_becomes(&address, "503", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    cluster.start_server();
    let recovered = health_becomes(&address, "200", Duration::from_secs(30));

    let run = finish(warming);
    run.expect_code(0);
    assert!(
        run.stdout.contains("6 symbol(s): 6 ok, 0 failed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        noticed < Duration::from_secs(5),
        "outage noticed after {noticed:?}"
    );
    assert!(
        recovered < Duration::from_secs(15),
        "recovered after {recovered:?}"
    );
    // Everything stored equals the provider's answer, nothing missing, nothing twice.
    sandbox.verify_against_synthetic(&admin);
    // The server, never restarted, serves what the warm stored.
    let (status, body) = http_get(&address, "/api/bars/R01?start=2000-01-01&end=2025-12-31");
    assert!(status.contains("200"), "{status}: {body}");
    let _ = server.kill();
    let _ = server.wait();
}
