//! A PostgreSQL server that refuses a connection is quoted: its reason and SQLSTATE reach the
//! error, and a password in the URL never does.

use std::time::{Duration, Instant};

use marketcache_domain::StoreError;
use marketcache_store::{ConnectOptions, PostgresStore};
use marketcache_testkit::{postgres_admin_url, with_database};

/// The message of the `Unreachable` error that connecting to `url` must give.
async fn refusal(url: &str) -> String {
    match PostgresStore::connect(url).await {
        Ok(_) => panic!("connected to {}", marketcache_store::redact_url(url)),
        Err(error @ StoreError::Unreachable { .. }) => error.to_string(),
        Err(other) => panic!("expected an unreachable database, got: {other}"),
    }
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

/// Runs one statement as the test server's administrator.
async fn administer(admin_url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    drop(client);
    driver.abort();
}

#[tokio::test]
async fn a_missing_database_is_reported_in_postgresql_s_own_words() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let message = refusal(&with_database(&admin_url, "marketcache_no_such_database")).await;
    assert!(
        message.contains(
            r#"is unreachable: FATAL: database "marketcache_no_such_database" does not exist (SQLSTATE 3D000)"#
        ),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_role_is_reported_and_its_password_is_not() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let url = with_credentials(&admin_url, "marketcache_no_such_role", "s3cret-pw");
    let message = refusal(&url).await;
    // Trust authentication says the role does not exist (28000); password authentication that
    // it failed (28P01). Either way PostgreSQL names the role.
    assert!(
        message.contains(r#""marketcache_no_such_role""#) && message.contains("(SQLSTATE 28"),
        "{message}"
    );
    assert!(message.contains("FATAL: "), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(
        message.contains("marketcache_no_such_role:***@"),
        "{message}"
    );
}

/// Connects as `url` waiting at most `wait` while PostgreSQL refuses for a passing reason.
async fn connect_waiting(url: &str, wait: Duration) -> Result<PostgresStore, StoreError> {
    let options = ConnectOptions {
        refused_wait: wait,
        ..ConnectOptions::default()
    };
    PostgresStore::connect_with(url, options).await
}

#[tokio::test]
async fn a_role_over_its_connection_limit_is_waited_for_then_told_so() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let role = format!("marketcache_limited_{}", std::process::id());
    administer(
        &admin_url,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0"),
    )
    .await;
    let started = Instant::now();
    let refused = connect_waiting(
        &with_credentials(&admin_url, &role, "limited-pw"),
        Duration::from_secs(2),
    )
    .await;
    let waited = started.elapsed();
    administer(&admin_url, &format!("DROP ROLE {role}")).await;
    let message = match refused {
        Ok(_) => panic!("a role allowed no connection connected"),
        Err(error) => error.to_string(),
    };
    assert!(
        message.contains(&format!(
            r#"FATAL: too many connections for role "{role}" (SQLSTATE 53300)"#
        )),
        "{message}"
    );
    assert!(
        message.contains("still refused after") && message.contains("pool_size"),
        "{message}"
    );
    assert!(!message.contains("limited-pw"), "{message}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "gave up after {waited:?}"
    );
}

#[tokio::test]
async fn a_connection_refused_for_too_many_clients_succeeds_once_a_slot_frees() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let role = format!("marketcache_one_slot_{}", std::process::id());
    administer(
        &admin_url,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'one-pw' CONNECTION LIMIT 1"),
    )
    .await;
    let url = with_credentials(&admin_url, &role, "one-pw");
    let (holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the role's one connection: {e}"));
    let driver = tokio::spawn(connection);
    // The slot frees a second from now, while the store is being refused and waits.
    let freeing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(holder);
        let _ = driver.await;
    });
    let started = Instant::now();
    let connected = connect_waiting(&url, Duration::from_secs(20)).await;
    let waited = started.elapsed();
    freeing.await.unwrap_or_else(|e| panic!("{e}"));
    let store = connected.unwrap_or_else(|e| panic!("waited {waited:?} and failed: {e}"));
    marketcache_domain::BarStore::ping(&store)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(store);
    // The store's connection may take a moment to end before the role can go.
    tokio::time::sleep(Duration::from_millis(200)).await;
    administer(&admin_url, &format!("DROP ROLE {role}")).await;
    assert!(
        waited >= Duration::from_millis(900),
        "connected after {waited:?}, before the slot freed"
    );
}
