use crate::support::Sandbox;

#[test]
fn migrate_creates_the_schema_once_and_then_reports_it_is_up_to_date() {
    let sandbox = Sandbox::new();

    let first = sandbox.run(&["migrate"]);
    first.expect_code(0);
    assert!(
        first.stdout.contains("Market Data Cache Migration"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains(&format!("Database: {}", sandbox.db_url())),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .lines()
            .any(|line| line == "✓ Created table market_data_cache"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("Migration completed successfully"),
        "{}",
        first.stdout
    );
    assert!(!first.stdout.contains("already"), "{}", first.stdout);
    // The fill-factor step is PostgreSQL's: on SQLite it creates nothing.
    assert!(!first.stdout.contains("fill factor"), "{}", first.stdout);
    assert!(sandbox.db_path().is_file());

    let second = sandbox.run(&["migrate"]);
    second.expect_code(0);
    assert!(
        second.stdout.contains("market_data_cache already applied"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("already up to date"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("Created"), "{}", second.stdout);
    assert!(
        !second.stdout.contains("completed successfully"),
        "{}",
        second.stdout
    );
}

#[test]
fn migrate_creates_missing_parent_folders_of_the_sqlite_file() {
    let sandbox = Sandbox::new();
    let nested = sandbox.join("a").join("b").join("cache.sqlite");
    let url = format!("sqlite://{}", nested.display());

    sandbox
        .run_bare(&["migrate", "--database-url", &url])
        .expect_code(0);

    assert!(nested.is_file(), "{} was not created", nested.display());
}
