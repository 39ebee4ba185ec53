//! A PostgreSQL server that refuses a connection is quoted: its reason and SQLSTATE reach the
//! error, and a password in the URL never does.

use marketcache_domain::StoreError;
use marketcache_store::PostgresStore;
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

#[tokio::test]
async fn a_role_over_its_connection_limit_is_told_so() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let role = format!("marketcache_limited_{}", std::process::id());
    administer(
        &admin_url,
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0"),
    )
    .await;
    let message = refusal(&with_credentials(&admin_url, &role, "limited-pw")).await;
    administer(&admin_url, &format!("DROP ROLE {role}")).await;
    assert!(
        message.contains(&format!(
            r#"FATAL: too many connections for role "{role}" (SQLSTATE 53300)"#
        )),
        "{message}"
    );
    assert!(!message.contains("limited-pw"), "{message}");
}
