use crate::support::{Sandbox, stats_symbols, stored_bars, table_row};

const JANUARY_2020: [&str; 4] = ["--start", "2020-01-01", "--end", "2020-01-31"];

#[test]
fn a_dot_env_file_in_the_working_directory_names_the_database() {
    let sandbox = Sandbox::new();
    let from_env = sandbox.join("from-dotenv.sqlite");
    sandbox.write(
        ".env",
        &format!(
            "# backend config\nDATABASE_URL=sqlite://{}\n",
            from_env.display()
        ),
    );

    let mut args = vec!["get", "AAPL"];
    args.extend_from_slice(&JANUARY_2020);
    let run = sandbox.run_bare(&args);
    run.expect_code(0);

    assert!(from_env.is_file(), "the .env database was not created");
    assert!(
        run.stderr.contains(&format!(
            "Initialised the database sqlite://{}",
            from_env.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(stored_bars(&from_env, "AAPL").len(), 21);
    assert!(!sandbox.default_db_path().exists());
}

#[test]
fn a_malformed_line_in_the_dot_env_file_stops_the_command_naming_its_line_and_column() {
    let sandbox = Sandbox::new();
    let from_env = sandbox.join("from-dotenv.sqlite");
    sandbox.write(
        ".env",
        &format!(
            "# backend config\nDATABASE_URL=sqlite://{}\nTITLE=two words\nMARKETCACHE_PROVIDER=csv\n",
            from_env.display()
        ),
    );

    let run = sandbox.run_bare(&["get", "AAPL"]);
    run.expect_code(2);

    assert!(
        run.stderr
            .starts_with("error: .env line 3, column 11: unexpected 'w'"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(!from_env.exists(), "the command ran on part of the file");
    assert!(!sandbox.default_db_path().exists());
}

#[test]
fn an_unclosed_quote_in_the_dot_env_file_is_reported_where_it_opens() {
    let sandbox = Sandbox::new();
    sandbox.write(".env", "A=1\nMARKETCACHE_PROVIDER=\"synthetic\nB=2\n");

    let run = sandbox.run(&["migrate"]);
    run.expect_code(2);

    assert_eq!(
        run.stderr.trim_end(),
        "error: .env line 2, column 22: this quote is never closed"
    );
    assert!(!sandbox.db_path().exists());
}

#[test]
fn a_variable_already_set_wins_over_the_dot_env_file() {
    let sandbox = Sandbox::new();
    let from_dotenv = sandbox.join("from-dotenv.sqlite");
    let from_env = sandbox.join("from-env.sqlite");
    sandbox.write(
        ".env",
        &format!("DATABASE_URL=sqlite://{}\n", from_dotenv.display()),
    );

    let run = sandbox.output(
        sandbox
            .command()
            .env("DATABASE_URL", format!("sqlite://{}", from_env.display()))
            .arg("migrate"),
    );
    run.expect_code(0);

    assert!(
        from_env.is_file(),
        "the environment's database was not used"
    );
    assert!(!from_dotenv.exists(), ".env overrode the environment");
}

#[test]
fn the_database_url_flag_wins_over_the_environment() {
    let sandbox = Sandbox::new();
    let from_env = sandbox.join("from-env.sqlite");

    let mut args = vec!["get", "AAPL"];
    args.extend_from_slice(&JANUARY_2020);
    let run = sandbox.output(
        sandbox
            .command()
            .env("DATABASE_URL", format!("sqlite://{}", from_env.display()))
            .arg("--database-url")
            .arg(sandbox.db_url())
            .args(&args),
    );
    run.expect_code(0);

    assert!(sandbox.db_path().is_file());
    assert!(!from_env.exists(), "DATABASE_URL was used despite the flag");
}

#[test]
fn without_any_configuration_the_database_lives_in_the_data_directory() {
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&["migrate"]);
    run.expect_code(0);

    let expected = sandbox.default_db_path();
    assert!(expected.is_file(), "{} was not created", expected.display());
    assert!(
        run.stdout
            .contains(&format!("Database: sqlite://{}", expected.display())),
        "{}",
        run.stdout
    );
}

#[test]
fn a_config_file_ticker_list_is_what_plain_warm_warms() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "marketcache.toml",
        "# my list\ntickers = [\"AAPL\", \"MSFT\"]\n",
    );

    let mut args = vec!["warm"];
    args.extend_from_slice(&JANUARY_2020);
    let run = sandbox.run(&args);
    run.expect_code(0);

    assert!(
        run.stdout
            .contains("Warming 2 symbol(s) from 2020-01-01 to 2020-01-31"),
        "{}",
        run.stdout
    );
    assert_eq!(table_row(&run.stdout, "AAPL")[1], "ok");
    assert_eq!(table_row(&run.stdout, "MSFT")[1], "ok");
    assert!(
        run.stdout
            .contains("2 symbol(s): 2 ok, 0 failed; 42 bars in range"),
        "{}",
        run.stdout
    );
    assert_eq!(
        stats_symbols(&sandbox.stats_json()),
        ["AAPL@synthetic", "MSFT@synthetic"]
    );
}

#[test]
fn a_config_file_in_the_config_directory_is_read_too() {
    let sandbox = Sandbox::new();
    let folder = sandbox.join("config").join("marketcache");
    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
    let database = sandbox.join("from-config.sqlite");
    std::fs::write(
        folder.join("marketcache.toml"),
        format!(
            "database_url = \"sqlite://{}\"\ntickers = [\"NVDA\"]\n",
            database.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let mut args = vec!["warm"];
    args.extend_from_slice(&JANUARY_2020);
    let run = sandbox.run_bare(&args);
    run.expect_code(0);

    assert!(run.stdout.contains("Warming 1 symbol(s)"), "{}", run.stdout);
    assert_eq!(table_row(&run.stdout, "NVDA")[1], "ok");
    assert_eq!(stored_bars(&database, "NVDA").len(), 21);
}

#[test]
fn plain_warm_without_a_config_file_warms_the_nine_default_tickers() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["warm", "--start", "2024-01-02", "--end", "2024-01-05"]);
    run.expect_code(0);

    assert!(run.stdout.contains("Warming 9 symbol(s)"), "{}", run.stdout);
    for symbol in [
        "AAPL", "GOOGL", "NVDA", "AMD", "ARM", "MSFT", "AVGO", "TSLA", "TQQQ",
    ] {
        let row = table_row(&run.stdout, symbol);
        assert_eq!(row[1..3], ["ok", "4"], "{row:?}");
    }
}

#[test]
fn a_config_file_with_an_unknown_key_is_a_usage_error_naming_the_file_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "marketcache.toml",
        "tickers = [\"AAPL\"]\n\n[synthetic]\n  latency = 5\n",
    );

    let run = sandbox.run(&["warm"]);
    run.expect_code(2);

    assert!(
        run.stderr
            .starts_with("error: marketcache.toml line 4, column 3: unknown field `latency`"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn a_malformed_config_file_is_a_usage_error_naming_the_file_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "marketcache.toml",
        "# my settings\ntickers = [\"AAPL\"]\nprovider = synthetic\n",
    );

    let run = sandbox.run(&["warm"]);
    run.expect_code(2);

    assert!(
        run.stderr
            .starts_with("error: marketcache.toml line 3, column 12: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("must be quoted"), "{}", run.stderr);
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn a_config_file_with_a_bad_ticker_is_a_usage_error_naming_the_entry() {
    let sandbox = Sandbox::new();
    sandbox.write("marketcache.toml", "tickers = [\"AAPL\", \"../etc\"]\n");

    let run = sandbox.run(&["warm"]);
    run.expect_code(2);

    assert!(run.stderr.contains("tickers[1]"), "{}", run.stderr);
    assert!(run.stderr.contains("'../etc'"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn an_invalid_number_in_a_synthetic_variable_is_a_usage_error_naming_the_variable() {
    for variable in [
        "MARKETCACHE_SYNTHETIC_LATENCY_MS",
        "MARKETCACHE_SYNTHETIC_MAX_SPAN_DAYS",
        "MARKETCACHE_SYNTHETIC_CONCURRENCY",
    ] {
        let sandbox = Sandbox::new();
        let url = sandbox.db_url();
        let run = sandbox.output(
            sandbox
                .command()
                .env(variable, "abc")
                .args(["--database-url", &url, "get", "AAPL"])
                .args(JANUARY_2020),
        );
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!("{variable}='abc' is invalid")),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!sandbox.db_path().exists());
    }
}

#[test]
fn a_zero_in_a_synthetic_variable_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let url = sandbox.db_url();
    let run = sandbox.output(
        sandbox
            .command()
            .env("MARKETCACHE_SYNTHETIC_CONCURRENCY", "0")
            .args(["--database-url", &url, "get", "AAPL"]),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("concurrency"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn the_provider_variable_is_honoured() {
    let sandbox = Sandbox::new();
    let url = sandbox.db_url();
    let run = sandbox.output(
        sandbox
            .command()
            .env("MARKETCACHE_PROVIDER", "bogus")
            .args(["--database-url", &url, "migrate"]),
    );
    run.expect_code(2);
    assert!(run.stderr.contains("provider 'bogus'"), "{}", run.stderr);

    // The flag wins over the variable.
    let run = sandbox.output(
        sandbox
            .command()
            .env("MARKETCACHE_PROVIDER", "bogus")
            .args(["--database-url", &url, "--provider", "synthetic", "migrate"]),
    );
    run.expect_code(0);
}
