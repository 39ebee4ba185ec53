use marketcache_domain::BarStore;

use crate::support::{Sandbox, csv_rows};

#[tokio::test]
async fn migrate_and_get_work_against_a_fresh_postgres_database() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let run_pg = |args: &[&str]| {
        sandbox.output(
            sandbox
                .command()
                .args(["--database-url", &pg.url])
                .args(args),
        )
    };

    // The testkit migrated the database already.
    let migrate = run_pg(&["migrate"]);
    migrate.expect_code(0);
    assert!(
        migrate.stdout.contains(&format!("Database: {}", pg.url)),
        "{}",
        migrate.stdout
    );
    assert!(
        migrate.stdout.contains("market_data_cache already applied"),
        "{}",
        migrate.stdout
    );
    assert!(
        migrate.stdout.contains("already up to date"),
        "{}",
        migrate.stdout
    );

    let get = [
        "get",
        "AAPL",
        "--start",
        "2020-01-01",
        "--end",
        "2020-03-31",
    ];
    let first = run_pg(&get);
    first.expect_code(0);
    let rows = csv_rows(&first.stdout);
    assert_eq!(rows.len(), 62, "NYSE had 62 sessions in 2020 Q1");
    assert!(
        first
            .stderr
            .contains("AAPL: 62 bars (0 cached, 62 fetched)"),
        "{}",
        first.stderr
    );
    assert!(!first.stderr.contains("Initialised"), "{}", first.stderr);

    let second = run_pg(&get);
    second.expect_code(0);
    assert_eq!(second.stdout, first.stdout);
    assert!(
        second
            .stderr
            .contains("62 cached, 0 fetched) from synthetic (made-up prices, not market data), 0 upstream requests"),
        "{}",
        second.stderr
    );

    // The bars are in the database itself.
    let stats = pg.store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.total_bars, 62);
    assert_eq!(
        stats
            .symbols
            .iter()
            .map(|s| s.symbol.as_str())
            .collect::<Vec<_>>(),
        ["AAPL@synthetic"]
    );

    let json = run_pg(&["stats", "--json"]);
    json.expect_code(0);
    assert_eq!(json.stdout_json()["total_bars"], 62);

    // Nothing was written next to the test.
    assert!(!sandbox.db_path().exists());
    assert!(!sandbox.default_db_path().exists());
}

#[test]
fn an_unreachable_database_fails_in_one_line_naming_it_without_the_password() {
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&[
        "--database-url",
        "postgres://user:s3cret@127.0.0.1:1/x",
        "get",
        "AAPL",
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-31",
    ]);
    run.expect_code(1);

    assert_eq!(run.stdout, "");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("error: database "), "{}", run.stderr);
    assert!(lines[0].contains("127.0.0.1:1/x"), "{}", run.stderr);
    assert!(lines[0].contains("unreachable"), "{}", run.stderr);
    // The cause under the pool's and the driver's wrappers ("Connection refused"), said once.
    assert!(
        lines[0].contains("unreachable: error connecting to server: "),
        "{}",
        run.stderr
    );
    assert!(
        !lines[0].contains("creating a new object"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
}

#[test]
fn an_unreachable_database_never_shows_its_password_even_with_debug_logging() {
    let sandbox = Sandbox::new();
    for command in ["migrate", "stats", "warm"] {
        let run = sandbox.run_bare(&[
            "-vv",
            "--database-url",
            "postgresql://user:s3cret@127.0.0.1:1/x",
            command,
        ]);
        run.expect_code(1);
        assert!(
            run.stderr.contains("postgresql://user:***@127.0.0.1:1/x"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
        assert!(!run.stdout.contains("s3cret"), "{}", run.stdout);
    }
}

#[test]
fn an_unreachable_database_without_a_password_is_named_as_given() {
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "migrate",
    ]);
    run.expect_code(1);

    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("database postgres://nobody@127.0.0.1:1/x is unreachable"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_password_given_as_a_url_parameter_is_hidden_too() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_bare(&[
        "--database-url",
        "postgres://user@127.0.0.1:1/x?password=s3cret",
        "stats",
    ]);
    run.expect_code(1);
    assert!(run.stderr.contains("password=***"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}

/// `url` with its user and password replaced.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}/{path}")
}

#[test]
fn a_missing_postgres_database_is_reported_with_postgresql_s_reason() {
    let Some(admin_url) = marketcache_testkit::postgres_admin_url() else {
        return;
    };
    let url = marketcache_testkit::with_database(&admin_url, "does_not_exist_xyz");
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&["--database-url", &url, "stats"]);
    run.expect_code(1);

    assert_eq!(run.stdout, "");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("error: database {url} is unreachable: ")),
        "{}",
        run.stderr
    );
    assert!(
        lines[0]
            .ends_with(r#"FATAL: database "does_not_exist_xyz" does not exist (SQLSTATE 3D000)"#),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unknown_postgres_role_is_reported_with_postgresql_s_reason_but_not_its_password() {
    let Some(admin_url) = marketcache_testkit::postgres_admin_url() else {
        return;
    };
    let url = with_credentials(&admin_url, "no_such_role_xyz", "s3cret");
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&["--database-url", &url, "migrate"]);
    run.expect_code(1);

    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    // Trust authentication says the role does not exist (28000), password authentication
    // that it failed (28P01); both name the role.
    assert!(
        lines[0].contains(r#"FATAL: "#)
            && lines[0].contains(r#""no_such_role_xyz""#)
            && lines[0].contains("(SQLSTATE 28"),
        "{}",
        run.stderr
    );
    assert!(lines[0].contains("no_such_role_xyz:***@"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}

/// Runs `statements` on the server as its administrator, in the database of `url`.
async fn administer(url: &str, statements: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(statements)
        .await
        .unwrap_or_else(|e| panic!("{statements}: {e}"));
    drop(client);
    let _ = driver.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_waits_for_a_connection_slot_when_postgresql_has_too_many_clients() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    // A role allowed two connections, both taken by another client for a second.
    let role = format!("marketcache_two_slots_{}", std::process::id());
    administer(
        &pg.url,
        &format!(
            "CREATE ROLE {role} LOGIN CONNECTION LIMIT 2;
             GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};
             GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role};"
        ),
    )
    .await;
    let (scheme, rest) = pg.url.split_once("://").unwrap_or(("postgres", &pg.url));
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let as_role = format!("{scheme}://{role}@{host_and_db}");
    let mut held = Vec::new();
    for _ in 0..2 {
        let (client, connection) = tokio_postgres::connect(&as_role, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        held.push((client, tokio::spawn(connection)));
    }
    let freeing = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        for (client, driver) in held {
            drop(client);
            let _ = driver.await;
        }
    });
    let started = std::time::Instant::now();
    let url = as_role.clone();
    let run = tokio::task::spawn_blocking(move || {
        let sandbox = Sandbox::new();
        sandbox.output(sandbox.command().args([
            "--database-url",
            &url,
            "get",
            "MSFT",
            "--start",
            "2020-01-01",
            "--end",
            "2020-12-31",
        ]))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let waited = started.elapsed();
    freeing.await.unwrap_or_else(|e| panic!("{e}"));
    administer(&pg.url, &format!("DROP OWNED BY {role}")).await;
    let admin = marketcache_testkit::postgres_admin_url().unwrap_or_default();
    administer(&admin, &format!("DROP ROLE {role}")).await;
    run.expect_code(0);
    assert_eq!(csv_rows(&run.stdout).len(), 253);
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "served after {waited:?}, before a slot freed"
    );
}

/// Ends every other session on the database of `client` (as `pg_terminate_backend` by an
/// administrator would); returns how many.
async fn terminate_others(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .unwrap_or_else(|e| panic!("cannot terminate sessions: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_rides_out_its_connections_being_terminated_and_stores_everything_right() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let symbols = ["T01", "T02", "T03", "T04", "T05", "T06", "T07", "T08"];
    let mut warm = sandbox.command();
    warm.args(["--database-url", &pg.url, "--latency-ms", "30", "warm"])
        .args(symbols)
        .args(["--start", "2005-01-01", "--end", "2025-12-31"]);
    let mut child = crate::support::spawn(&mut warm);
    let (admin, connection) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let driver = tokio::spawn(connection);
    let mut terminated = 0;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while child.try_wait().ok().flatten().is_none() {
        terminated += terminate_others(&admin).await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    drop(admin);
    let _ = driver.await;
    let run = crate::support::finish(child);
    run.expect_code(0);
    assert!(
        terminated >= 3,
        "only {terminated} sessions were terminated"
    );
    assert!(
        run.stdout.contains("8 symbol(s): 8 ok, 0 failed"),
        "{}",
        run.stdout
    );
    // What it stored equals the provider's answer, day by day, with nothing missing.
    sandbox.verify_against_synthetic(&pg.url);
}
