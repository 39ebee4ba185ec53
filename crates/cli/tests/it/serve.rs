//! `marketcache serve`: the real binary listens on a free port, answers, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// A plain HTTP/1.1 GET over a socket: the status line and the body.
pub fn http_get(address: &str, path: &str) -> (String, String) {
    let mut stream =
        TcpStream::connect(address).unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts `serve` on `url`; returns it and the address it printed.
pub fn start_serve(sandbox: &Sandbox, url: &str) -> (Child, String) {
    let mut child = sandbox
        .command()
        .args(["--database-url", url, "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start marketcache: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .unwrap_or_else(|e| panic!("{e}"));
    let address = first_line
        .trim()
        .strip_prefix("Listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"))
        .to_string();
    (child, address)
}

#[test]
fn serve_prints_its_address_answers_and_exits_0_on_sigterm() {
    let sandbox = Sandbox::new();
    let (mut child, address) = start_serve(&sandbox, &sandbox.db_url());
    assert!(address.starts_with("127.0.0.1:"), "{address}");

    let (status, body) = http_get(&address, "/api/health");
    assert!(status.contains("200"), "{status}\n{body}");
    let health: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], sandbox.db_url());

    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "serve should exit 0 after SIGTERM");
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let sandbox = Sandbox::new();
    let run = sandbox.output(
        sandbox
            .command()
            .arg("--database-url")
            .arg(sandbox.db_url())
            .args(["serve", "--bind", "0.0.0.0:0"])
            .env_remove("MARKETCACHE_API_TOKEN"),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("MARKETCACHE_API_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(
        !sandbox.db_path().exists(),
        "nothing is opened before the exposure is checked"
    );
}
