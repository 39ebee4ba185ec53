use crate::support::{Sandbox, csv_rows, day};

const YEAR_2020: [&str; 5] = ["AAPL", "--start", "2020-01-01", "--end", "2020-12-31"];

fn get_2020(sandbox: &Sandbox, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["get"];
    args.extend_from_slice(&YEAR_2020);
    args.extend_from_slice(extra);
    sandbox.run(&args)
}

fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    value
        .get(key)
        .unwrap_or_else(|| panic!("key {key} is missing from {value}"))
}

fn as_u64(value: &serde_json::Value, key: &str) -> u64 {
    field(value, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a whole number in {value}"))
}

fn as_f64(value: &serde_json::Value, key: &str) -> f64 {
    field(value, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {value}"))
}

#[test]
fn get_on_an_empty_database_prints_a_year_of_csv_and_a_summary_line() {
    let sandbox = Sandbox::new();

    let run = get_2020(&sandbox, &[]);
    run.expect_code(0);

    let rows = csv_rows(&run.stdout);
    assert_eq!(rows.len(), 253, "2020 had 253 NYSE sessions");
    assert_eq!(rows.first().map(|r| r[0].as_str()), Some("2020-01-02"));
    assert_eq!(rows.last().map(|r| r[0].as_str()), Some("2020-12-31"));
    for row in &rows {
        let numbers: Vec<f64> = row[1..5]
            .iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect();
        let (open, high, low, close) = (numbers[0], numbers[1], numbers[2], numbers[3]);
        assert!(
            low <= open && open <= high && low <= close && close <= high,
            "{row:?}"
        );
        row[5]
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("volume {}: {e}", row[5]));
    }

    let lines = run.stderr_lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("Initialised the database"))
            .count(),
        1,
        "{}",
        run.stderr
    );
    let summaries: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("upstream requests"))
        .collect();
    assert_eq!(summaries.len(), 1, "{}", run.stderr);
    let summary = summaries[0];
    assert!(summary.starts_with("AAPL: 253 bars"), "{summary}");
    assert!(summary.contains("0 cached, 253 fetched"), "{summary}");
    assert!(!summary.contains(" 0 upstream requests"), "{summary}");
    assert_eq!(lines.len(), 2, "{}", run.stderr);

    // The bars printed are the bars stored.
    let stored = sandbox.stored_bars("AAPL");
    assert_eq!(stored.len(), 253);
    for (bar, row) in stored.iter().zip(&rows) {
        assert_eq!(bar.date.to_string(), row[0]);
        assert_eq!(row[4].parse::<f64>().ok(), Some(bar.close), "{row:?}");
        assert_eq!(bar.volume.to_string(), row[5]);
    }
}

#[test]
fn get_a_second_time_is_served_from_the_cache_without_upstream_requests() {
    let sandbox = Sandbox::new();
    let first = get_2020(&sandbox, &[]);
    first.expect_code(0);

    let second = get_2020(&sandbox, &[]);
    second.expect_code(0);

    assert_eq!(
        second.stdout, first.stdout,
        "cached bars differ from fetched bars"
    );
    assert!(
        second.stderr.contains("253 bars (253 cached, 0 fetched)"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(", 0 upstream requests"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("Initialised"), "{}", second.stderr);
    assert_eq!(second.stderr_lines().len(), 1, "{}", second.stderr);
}

#[test]
fn get_with_json_format_prints_one_object_with_bars_and_report() {
    let sandbox = Sandbox::new();
    let csv = get_2020(&sandbox, &[]);
    csv.expect_code(0);
    let csv_rows = csv_rows(&csv.stdout);

    let run = get_2020(&sandbox, &["--format", "json"]);
    run.expect_code(0);
    let value = run.stdout_json();

    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bars", "report", "symbol"]);
    assert_eq!(value["symbol"], "AAPL");

    let bars = field(&value, "bars")
        .as_array()
        .unwrap_or_else(|| panic!("bars is not an array"));
    assert_eq!(bars.len(), 253);
    for (bar, row) in bars.iter().zip(&csv_rows) {
        assert_eq!(field(bar, "date").as_str(), Some(row[0].as_str()));
        for (index, key) in ["open", "high", "low", "close"].into_iter().enumerate() {
            let from_csv: f64 = row[index + 1].parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(as_f64(bar, key), from_csv, "{key} of {bar}");
        }
        assert_eq!(as_u64(bar, "volume").to_string(), row[5]);
    }

    let report = field(&value, "report");
    assert_eq!(as_u64(report, "cached_bars"), 253);
    assert_eq!(as_u64(report, "fetched_bars"), 0);
    assert_eq!(as_u64(report, "upstream_requests"), 0);
    assert!(as_f64(report, "elapsed_ms") >= 0.0);
    assert_eq!(field(report, "missing"), &serde_json::json!([]));
    assert!(run.stderr.contains("0 upstream requests"), "{}", run.stderr);
}

#[test]
fn get_with_json_format_on_an_empty_database_reports_fetched_bars() {
    let sandbox = Sandbox::new();

    let run = get_2020(&sandbox, &["--format", "json"]);
    run.expect_code(0);
    let value = run.stdout_json();

    let report = field(&value, "report");
    assert_eq!(as_u64(report, "cached_bars"), 0);
    assert_eq!(as_u64(report, "fetched_bars"), 253);
    assert!(as_u64(report, "upstream_requests") >= 1, "{report}");
    assert_eq!(field(&value, "bars").as_array().map(Vec::len), Some(253));
}

#[test]
fn get_offline_serves_what_is_cached_and_reports_the_missing_ranges() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&[
            "get",
            "AAPL",
            "--start",
            "2020-01-01",
            "--end",
            "2020-06-30",
        ])
        .expect_code(0);
    let cached_before = sandbox.stored_bars("AAPL");
    assert_eq!(cached_before.last().map(|b| b.date), Some(day(2020, 6, 30)));

    let run = get_2020(&sandbox, &["--offline", "--format", "json"]);
    run.expect_code(0);
    let value = run.stdout_json();

    let bars = field(&value, "bars")
        .as_array()
        .unwrap_or_else(|| panic!("bars is not an array"));
    assert_eq!(bars.len(), cached_before.len());
    let report = field(&value, "report");
    assert_eq!(as_u64(report, "upstream_requests"), 0);
    assert_eq!(as_u64(report, "fetched_bars"), 0);
    assert_eq!(as_u64(report, "cached_bars"), cached_before.len() as u64);
    assert_eq!(
        field(report, "missing"),
        &serde_json::json!([{ "start": "2020-07-01", "end": "2020-12-31" }])
    );
    assert!(
        run.stderr.contains("0 upstream requests, ")
            && run
                .stderr
                .contains("missing (offline): 2020-07-01..2020-12-31"),
        "{}",
        run.stderr
    );

    // Nothing was fetched or written.
    assert_eq!(sandbox.stored_bars("AAPL"), cached_before);
}

#[test]
fn get_offline_on_an_empty_database_prints_only_the_header() {
    let sandbox = Sandbox::new();

    let run = get_2020(&sandbox, &["--offline"]);
    run.expect_code(0);

    assert!(csv_rows(&run.stdout).is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("AAPL: 0 bars")
            && run.stderr.contains("0 upstream requests")
            && run
                .stderr
                .contains("missing (offline): 2020-01-02..2020-12-31"),
        "{}",
        run.stderr
    );
}

#[test]
fn get_with_output_writes_the_file_and_nothing_to_stdout() {
    let sandbox = Sandbox::new();
    let file = sandbox.join("aapl.csv");
    let file_arg = file.display().to_string();

    let run = get_2020(&sandbox, &["--output", &file_arg]);
    run.expect_code(0);

    assert_eq!(run.stdout, "");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv_rows(&text).len(), 253);
    assert!(run.stderr.contains("AAPL: 253 bars"), "{}", run.stderr);

    // JSON goes to the file too, relative paths resolve against the working directory.
    let json = get_2020(&sandbox, &["--format", "json", "-o", "aapl.json"]);
    json.expect_code(0);
    assert_eq!(json.stdout, "");
    let text = std::fs::read_to_string(sandbox.join("aapl.json")).unwrap_or_else(|e| panic!("{e}"));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value["bars"].as_array().map(Vec::len), Some(253));
}

#[test]
fn the_output_file_extension_chooses_the_format_and_one_we_cannot_write_is_refused() {
    let sandbox = Sandbox::new();
    let json = get_2020(&sandbox, &["-o", "bars.json"]);
    json.expect_code(0);
    let text = std::fs::read_to_string(sandbox.join("bars.json")).unwrap_or_else(|e| panic!("{e}"));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value["bars"].as_array().map(Vec::len), Some(253));

    for (args, says) in [
        (&["-o", "aapl.xlsx"][..], "not .xlsx"),
        (
            &["-o", "aapl.parquet", "--format", "arrow"][..],
            "--format says arrow",
        ),
        (
            &["-o", "aapl.json", "--format", "csv"][..],
            "--format says csv",
        ),
    ] {
        let run = get_2020(&sandbox, args);
        run.expect_code(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(!sandbox.join(args[1]).exists(), "{args:?} wrote a file");
    }
    let optimize = sandbox.run(&["optimize", "AAPL", "--output", "all.json"]);
    optimize.expect_code(2);
    assert!(
        optimize.stderr.contains("name the file .csv"),
        "{}",
        optimize.stderr
    );
}

#[test]
fn get_with_an_unwritable_output_path_fails_naming_the_path() {
    let sandbox = Sandbox::new();
    let file = sandbox.join("no-such-folder").join("aapl.csv");
    let file_arg = file.display().to_string();

    let run = get_2020(&sandbox, &["--output", &file_arg]);
    run.expect_code(1);

    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
    assert!(run.stderr.contains(&file_arg), "{}", run.stderr);
}

#[test]
fn get_with_force_refresh_asks_upstream_again_for_a_cached_range() {
    let sandbox = Sandbox::new();
    get_2020(&sandbox, &[]).expect_code(0);

    let run = get_2020(&sandbox, &["--force-refresh", "--format", "json"]);
    run.expect_code(0);

    let report = field(&run.stdout_json(), "report").clone();
    assert!(as_u64(&report, "upstream_requests") >= 1, "{report}");
    assert_eq!(as_u64(&report, "fetched_bars"), 253);
    assert_eq!(sandbox.stored_bars("AAPL").len(), 253);
}

#[test]
fn get_of_an_unknown_symbol_fails_naming_the_symbol() {
    let sandbox = Sandbox::new();

    let run = get_2020(&sandbox, &[]);
    run.expect_code(0);
    let run = sandbox.run(&[
        "get",
        "ZZTOP",
        "--start",
        "2020-01-01",
        "--end",
        "2020-12-31",
    ]);
    run.expect_code(1);

    assert_eq!(run.stdout, "", "no CSV is printed for a failed get");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("error:"), "{}", run.stderr);
    assert!(lines[0].contains("ZZTOP"), "{}", run.stderr);
    assert!(lines[0].contains("unknown"), "{}", run.stderr);
    assert!(sandbox.stored_bars("ZZTOP").is_empty());
}

/// Reads a Parquet or Arrow file the command wrote back into rows of text, as CSV shows them.
fn columnar_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    use arrow_array::{Array, Date32Array, Float64Array, Int64Array, RecordBatch};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let batches: Vec<RecordBatch> = if path.extension().is_some_and(|ext| ext == "parquet") {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|builder| builder.build())
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    } else {
        arrow_ipc::reader::FileReader::try_new(file, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut rows = Vec::new();
    for batch in &batches {
        let column = |index: usize| batch.column(index).as_any();
        let dates = column(0).downcast_ref::<Date32Array>();
        let prices: Vec<Option<&Float64Array>> =
            (1..5).map(|index| column(index).downcast_ref()).collect();
        let volumes = column(5).downcast_ref::<Int64Array>();
        for row in 0..batch.num_rows() {
            let mut cells = vec![
                dates
                    .and_then(|dates| dates.value_as_date(row))
                    .map(|date| date.to_string())
                    .unwrap_or_default(),
            ];
            for price in &prices {
                let value = price.map(|price| price.value(row)).unwrap_or(f64::NAN);
                cells.push(format!("{value:?}"));
            }
            cells.push(
                volumes
                    .map(|v| v.value(row).to_string())
                    .unwrap_or_default(),
            );
            rows.push(cells);
        }
        assert!(dates.is_some_and(|dates| dates.null_count() == 0));
    }
    rows
}

#[test]
fn parquet_and_arrow_files_hold_exactly_the_bars_of_the_csv() {
    let sandbox = Sandbox::new();
    let csv = get_2020(&sandbox, &["--adjust", "none"]);
    csv.expect_code(0);
    let expected = csv_rows(&csv.stdout);
    assert_eq!(expected.len(), 253);
    for (args, file) in [
        (&["-o", "aapl.parquet"][..], "aapl.parquet"),
        (&["-o", "aapl.arrow"][..], "aapl.arrow"),
        (&["--format", "parquet", "-o", "bars.pq"][..], "bars.pq"),
    ] {
        let mut all = vec!["--adjust", "none"];
        all.extend_from_slice(args);
        let run = get_2020(&sandbox, &all);
        run.expect_code(0);
        assert!(run.stdout.is_empty(), "{file}: {}", run.stdout);
        let path = sandbox.join(file);
        let path = if file == "bars.pq" {
            let renamed = sandbox.join("bars.parquet");
            std::fs::rename(&path, &renamed).unwrap_or_else(|e| panic!("{e}"));
            renamed
        } else {
            path
        };
        assert_eq!(columnar_rows(&path), expected, "{file}");
    }
    // Piped, the bytes go to standard output: the Parquet magic at both ends.
    let mut piped_args = vec!["get"];
    piped_args.extend_from_slice(&YEAR_2020);
    piped_args.extend_from_slice(&["--format", "parquet"]);
    let piped = sandbox.run(&piped_args);
    piped.expect_code(0);
    assert!(
        piped.stdout.starts_with("PAR1"),
        "{:?}",
        &piped.stdout.get(..8)
    );
}

#[test]
fn several_symbols_come_in_long_form_with_a_symbol_column_or_as_one_object_each() {
    let sandbox = Sandbox::new();
    let range = ["--start", "2020-01-01", "--end", "2020-12-31"];
    let each: Vec<Vec<Vec<String>>> = ["AAPL", "MSFT"]
        .iter()
        .map(|symbol| {
            let mut args = vec!["get", symbol];
            args.extend_from_slice(&range);
            let run = sandbox.run(&args);
            run.expect_code(0);
            csv_rows(&run.stdout)
        })
        .collect();

    let mut args = vec!["get", "AAPL", "MSFT", "aapl"];
    args.extend_from_slice(&range);
    let long = sandbox.run(&args);
    long.expect_code(0);
    assert!(
        long.stdout
            .starts_with("symbol,date,open,high,low,close,volume\n"),
        "{}",
        &long.stdout[..80]
    );
    let rows: Vec<Vec<String>> = long
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 253 * 2, "AAPL given twice is read once");
    assert!(rows.iter().all(|row| row.len() == 7), "{rows:?}");
    for (index, symbol) in ["AAPL", "MSFT"].iter().enumerate() {
        let own: Vec<Vec<String>> = rows
            .iter()
            .filter(|row| row[0] == *symbol)
            .map(|row| row[1..].to_vec())
            .collect();
        assert_eq!(own, each[index], "{symbol}");
    }
    assert_eq!(long.stderr.lines().count(), 2, "{}", long.stderr);

    args.extend_from_slice(&["--format", "json"]);
    let json = sandbox.run(&args);
    json.expect_code(0);
    let value = json.stdout_json();
    let objects = value.as_array().cloned().unwrap_or_default();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[1]["symbol"], "MSFT");
    assert_eq!(objects[1]["bars"].as_array().map(Vec::len), Some(253));
    assert_eq!(objects[1]["report"]["cached_bars"], 253);

    let mut parquet = vec!["get", "AAPL", "MSFT", "-o", "both.parquet"];
    parquet.extend_from_slice(&range);
    sandbox.run(&parquet).expect_code(0);
    let file = std::fs::File::open(sandbox.join("both.parquet")).unwrap_or_else(|e| panic!("{e}"));
    let batches: Vec<arrow_array::RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|builder| builder.build())
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
    let symbols: Vec<String> = batches
        .iter()
        .flat_map(|batch| {
            let column = batch.column_by_name("symbol").map(|column| {
                use arrow_array::Array;
                column
                    .as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .map(|names| names.iter().flatten().map(str::to_string).collect())
                    .unwrap_or_default()
            });
            column.unwrap_or_else(Vec::new)
        })
        .collect();
    assert_eq!(symbols.len(), 506);
    assert_eq!(symbols.iter().filter(|name| *name == "MSFT").count(), 253);
}
