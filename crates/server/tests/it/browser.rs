//! The dashboard in headless Chromium, driven over WebDriver: analyze a small grid, check the
//! best combination against the API, select another row, take a screenshot, then warm a
//! symbol from the cache page. Skipped with a notice when Chromium or chromedriver is missing,
//! unless `MARKETCACHE_REQUIRE_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use chrono::NaiveDate;

use crate::harness::{Backend, TestApp};

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|folder| names.iter().map(move |name| folder.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver and the browser, or `None` (after a notice) when the test should skip.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path(&["chromedriver"]);
    let browser = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    match (driver, browser) {
        (Some(driver), Some(browser)) => Some((driver, browser)),
        _ if std::env::var("MARKETCACHE_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("MARKETCACHE_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed")
        }
        _ => {
            marketcache_testkit::report_skip(
                "needs a browser: install chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver)",
            );
            None
        }
    }
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(driver: &Path) -> Self {
        // A port the OS just handed out and released: free unless something races for it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        Self { child, port }
    }

    async fn connect(&self, browser: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": browser.to_string_lossy(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1440,1100"],
            }),
        );
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                // chromedriver takes a moment to listen.
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("cannot open a WebDriver session: {error}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `read` until it returns `Some`, for at most `seconds`.
async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = read().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {seconds} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An attribute of the first element matching `css`, if both exist.
async fn attribute(client: &Client, css: &str, name: &str) -> Option<String> {
    let element = client.find(Locator::Css(css)).await.ok()?;
    element.attr(name).await.ok().flatten()
}

/// Sets form values by element id (date inputs take typed keys in the locale's order, so
/// values are set directly, as a user's picker would).
async fn fill(client: &Client, values: &[(&str, &str)]) {
    let values: serde_json::Map<String, Value> = values
        .iter()
        .map(|(id, value)| (id.to_string(), json!(value)))
        .collect();
    client
        .execute(
            "for (const [id, value] of Object.entries(arguments[0])) { document.getElementById(id).value = value; }",
            vec![Value::Object(values)],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The text of the element with `id`.
async fn text_of(client: &Client, id: &str) -> String {
    client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"))
        .text()
        .await
        .unwrap_or_default()
}

/// Clicks the element with `id`.
async fn click(client: &Client, id: &str) {
    click_at(client, Locator::Id(id)).await;
}

/// Clicks the first element matching `css`.
async fn click_css(client: &Client, css: &str) {
    click_at(client, Locator::Css(css)).await;
}

async fn click_at(client: &Client, locator: Locator<'_>) {
    client
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("{locator:?}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{locator:?}: {e}"));
}

/// The heat map of a 4 × 4 grid is drawn where a person sees it: a canvas of real size inside
/// its panel, each cell painted; a click on the canvas charts the pair under the pointer.
async fn check_the_heat_map_draws_and_charts_a_clicked_cell(client: &Client) {
    let drawn = client
        .execute(
            r#"
            const canvas = document.getElementById("heatmap-canvas");
            const panel = document.getElementById("heatmap-panel").getBoundingClientRect();
            const box = canvas.getBoundingClientRect();
            const d = canvas.dataset;
            const ratio = window.devicePixelRatio || 1;
            const context = canvas.getContext("2d");
            const pixel = (x, y) => Array.from(context.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data);
            const painted = [];
            for (let column = 0; column < Number(d.columns); column += 1) {
              for (let row = 0; row < Number(d.rows); row += 1) {
                const x = Number(d.left) + (column + 0.5) * Number(d.cellWidth);
                const y = Number(d.top) + (row + 0.5) * Number(d.cellHeight);
                painted.push(pixel(x, y)[3] === 255);
              }
            }
            const heatmap = page.result.heatmap;
            const column = Math.floor((box.width / 2 - Number(d.left)) / Number(d.cellWidth));
            const row = Number(d.rows) - 1 - Math.floor((box.height / 2 - Number(d.top)) / Number(d.cellHeight));
            return {
              width: box.width, height: box.height,
              inside: box.left >= panel.left && box.right <= panel.right + 0.5 && box.top >= panel.top && box.bottom <= panel.bottom + 0.5,
              columns: Number(d.columns), rows: Number(d.rows), cells: Number(d.cells),
              painted: painted.filter(Boolean).length,
              corner: pixel(1, 1)[3],
              centre: heatmap.x_parameter + "=" + heatmap.x[column] + " " + heatmap.y_parameter + "=" + heatmap.y[row],
              scale: document.getElementById("heatmap-metric").textContent,
            };
            "#,
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (drawn["columns"].as_u64(), drawn["rows"].as_u64()),
        (Some(4), Some(4)),
        "{drawn}"
    );
    assert_eq!(drawn["cells"].as_u64(), Some(16), "{drawn}");
    assert_eq!(
        drawn["painted"].as_u64(),
        Some(16),
        "every cell is painted: {drawn}"
    );
    assert_eq!(
        drawn["corner"].as_u64(),
        Some(0),
        "outside the cells stays blank: {drawn}"
    );
    assert!(
        drawn["width"].as_f64().unwrap_or_default() > 200.0,
        "{drawn}"
    );
    assert!(
        drawn["height"].as_f64().unwrap_or_default() > 60.0,
        "{drawn}"
    );
    assert_eq!(
        drawn["inside"], true,
        "the heat map lies within its panel: {drawn}"
    );
    assert!(
        drawn["scale"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sharpe"),
        "{drawn}"
    );
    let expected = drawn["centre"].as_str().unwrap_or_default().to_string();
    client
        .find(Locator::Id("heatmap-canvas"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(20, "the clicked cell's equity curve", || async {
        let charted = attribute(client, "#equity-chart", "data-params").await?;
        (charted == expected).then_some(())
    })
    .await;
}

/// Every symbol's strip spans the same axis, from the earliest covered day to today: AAPL,
/// covered 2015-2020, is green over that share of its strip's width (element geometry), and
/// MSFT's half year is a narrow green band.
async fn check_coverage_strips_share_one_axis(app: &TestApp, client: &Client) {
    let stats = app.get("/api/cache/stats").await.json();
    let covered = |symbol: &str| -> Vec<(NaiveDate, NaiveDate)> {
        stats["symbols"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["symbol"] == symbol)
            .flat_map(|entry| entry["covered"].as_array().cloned().unwrap_or_default())
            .map(|range| {
                let day = |key: &str| {
                    range[key]
                        .as_str()
                        .and_then(|text| text.parse().ok())
                        .unwrap_or_else(|| panic!("{range}"))
                };
                (day("start"), day("end"))
            })
            .collect()
    };
    let (aapl, msft, tsla) = (covered("AAPL"), covered("MSFT"), covered("TSLA"));
    let start = aapl
        .iter()
        .chain(&msft)
        .chain(&tsla)
        .map(|range| range.0)
        .min()
        .unwrap_or_default();
    let end = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let share = |ranges: &[(NaiveDate, NaiveDate)]| {
        let days: i64 = ranges.iter().map(|(a, b)| (*b - *a).num_days() + 1).sum();
        days as f64 / (end - start).num_days() as f64
    };
    let measured = client
        .execute(
            r#"
            const shares = (symbol) => {
              const svg = document.querySelector(`tr[data-symbol='${symbol}'] td.coverage svg`);
              const box = svg.getBoundingClientRect();
              const of = (kind) => [...svg.querySelectorAll(`rect.${kind}`)].reduce((sum, rect) => sum + rect.getBoundingClientRect().width, 0) / box.width;
              return { width: box.width, height: box.height, share: of("covered"), unlisted: of("unlisted") };
            };
            return { aapl: shares("AAPL"), msft: shares("MSFT"), tsla: shares("TSLA") };
            "#,
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (symbol, ranges) in [("aapl", &aapl), ("msft", &msft)] {
        let strip = &measured[symbol];
        assert!(
            strip["width"].as_f64().unwrap_or_default() > 100.0,
            "{measured}"
        );
        assert!(
            strip["height"].as_f64().unwrap_or_default() >= 8.0,
            "{measured}"
        );
        let shown = strip["share"].as_f64().unwrap_or_default();
        let expected = share(ranges);
        assert!(
            (shown - expected).abs() < 0.02,
            "{symbol}: {shown} shown, {expected} covered: {measured}"
        );
    }
    // AAPL's 2015-2020 is about a third of 2008 to today; MSFT's half year far less.
    assert!(
        share(&aapl) > 0.25 && share(&msft) < 0.1,
        "{aapl:?} {msft:?}"
    );
    // TSLA: lavender from 2008 to its first bar, green from there to 2012.
    let listed = NaiveDate::from_ymd_opt(2010, 6, 29).unwrap_or_default();
    let day = |text: &str| text.parse::<NaiveDate>().unwrap_or_default();
    let axis = (end - start).num_days() as f64;
    let before = (listed - day("2008-01-01")).num_days() as f64 / axis;
    let after = ((day("2012-12-31") - listed).num_days() + 1) as f64 / axis;
    let strip = &measured["tsla"];
    let shown = |key: &str| strip[key].as_f64().unwrap_or_default();
    assert!(
        (shown("unlisted") - before).abs() < 0.02,
        "{before} before listing: {measured}"
    );
    assert!(
        (shown("share") - after).abs() < 0.02,
        "{after} listed: {measured}"
    );
}

/// Clicking a symbol opens its drill-down: the market and one row per ledger entry, as the
/// coverage endpoint lists them.
async fn check_a_symbol_opens_its_ledger(app: &TestApp, client: &Client) {
    let coverage = app.get("/api/cache/coverage/AAPL").await.json();
    let spans = coverage["spans"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert!(spans > 0, "{coverage}");
    click_css(client, "tr[data-symbol='AAPL'] th button").await;
    let rows = eventually(15, "AAPL's ledger", || async {
        let rows = client
            .find_all(Locator::Css("#details-AAPL table.ledger tbody tr"))
            .await
            .ok()?;
        (!rows.is_empty()).then_some(rows.len())
    })
    .await;
    assert_eq!(rows, spans);
    let text = client
        .find(Locator::Id("details-AAPL"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(text.contains("Market XNYS"), "{text}");
    let first = &coverage["spans"][0]["range"];
    let range = format!(
        "{} → {}",
        first["start"].as_str().unwrap_or_default(),
        first["end"].as_str().unwrap_or_default()
    );
    assert!(text.contains(&range), "{range} not in {text}");
}

/// Runs `script` in the page and returns its value.
async fn run(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}\n{script}"))
}

/// The selected combination's metrics card shows the API's figures; the equity chart has a
/// drawdown pane as deep as the backtest's maximum drawdown; the trade table lists every trade.
async fn check_the_selection_card_drawdown_and_trades(app: &TestApp, client: &Client, job: &Value) {
    let top = &job["result"]["top"][0];
    let backtest = app
        .post_json(
            "/api/backtest",
            &json!({"symbol": "AAPL", "strategy": "sma-cross", "params": top["parameters"],
                "start": "2015-01-01", "end": "2020-12-31", "fees": 0.001}),
        )
        .await
        .json();
    let shown = run(
        client,
        r##"
        const cell = (metric, column) => document.querySelector(`#metrics-table tr[data-metric='${metric}']`).children[column].textContent;
        const equity = page.charts.equity;
        const drawdown = equity.drawdown.data().map((point) => point.value);
        return {
          sharpe: cell("sharpe", 1), testSharpe: cell("sharpe", 4), heads: document.querySelector("#metrics-table thead").textContent,
          panes: equity.chart.panes().length, drawdownHeight: equity.chart.panes()[1].getHeight(), deepest: Math.min(...drawdown),
          trades: document.querySelectorAll("#trades-table tbody tr").length,
        };
        "##,
    )
    .await;
    let metrics = &backtest["metrics"];
    let sharpe = metrics["sharpe"].as_f64().map(|v| format!("{v:.3}"));
    assert_eq!(
        shown["sharpe"].as_str().map(str::to_owned),
        sharpe,
        "{shown}"
    );
    let test_sharpe = top["out_of_sample"]["sharpe"]
        .as_f64()
        .map(|v| format!("{v:.3}"));
    assert_eq!(
        shown["testSharpe"].as_str().map(str::to_owned),
        test_sharpe,
        "{shown}"
    );
    assert!(
        shown["heads"]
            .as_str()
            .unwrap_or_default()
            .contains("Buy-and-hold"),
        "{shown}"
    );
    assert_eq!(shown["panes"].as_u64(), Some(2), "{shown}");
    assert!(
        shown["drawdownHeight"].as_f64().unwrap_or_default() > 50.0,
        "{shown}"
    );
    let deepest = shown["deepest"].as_f64().unwrap_or_default();
    let max_drawdown = metrics["max_drawdown"].as_f64().unwrap_or_default().abs() * 100.0;
    assert!(
        (deepest.abs() - max_drawdown).abs() < 0.01,
        "{deepest} vs {max_drawdown}"
    );
    let trades = backtest["trades"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert!(trades > 0, "{backtest}");
    assert_eq!(shown["trades"].as_u64(), Some(trades as u64), "{shown}");
}

/// The test period after the split is shaded on the price chart (pixels right of the split are
/// tinted, left of it white); the markers of 6 years of trades are merged where they would
/// overlap and come apart when zoomed in; zooming one chart moves the other; selecting a trade
/// zooms both to it; the log scale spaces equal ratios equally.
async fn check_the_charts_read_as_a_person_sees_them(client: &Client) {
    run(
        client,
        "page.charts.price.chart.timeScale().fitContent(); return null;",
    )
    .await;
    // The chart applies a new view on its next frame.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shade = run(
        client,
        r##"
        const price = page.charts.price;
        const tinted = (x, y) => [...document.querySelectorAll("#price-chart canvas")].some((canvas) => {
          const box = canvas.getBoundingClientRect();
          const chart = document.getElementById("price-chart").getBoundingClientRect();
          const px = x + chart.left - box.left, py = y + chart.top - box.top;
          if (px < 0 || py < 0 || px >= box.width || py >= box.height) return false;
          const ratio = canvas.width / box.width;
          const [r, g, b, a] = canvas.getContext("2d").getImageData(Math.floor(px * ratio), Math.floor(py * ratio), 1, 1).data;
          return a > 0 && r > b + 20;
        });
        const split = price.chart.timeScale().timeToCoordinate("2020-01-02");
        const sample = (from, to) => { let hits = 0, all = 0; for (let x = from; x < to; x += 3) { all += 1; if (tinted(x, 6)) hits += 1; } return hits / Math.max(1, all); };
        return { split, after: sample(split + 4, split + 60), before: sample(Math.max(0, split - 120), split - 4),
          shaded: price.shade.data().length, testBars: page.bars.filter((bar) => bar.date > "2019-12-31").length };
        "##,
    )
    .await;
    assert!(
        shade["split"].as_f64().unwrap_or_default() > 100.0,
        "{shade}"
    );
    assert_eq!(shade["shaded"], shade["testBars"], "{shade}");
    assert!(
        shade["after"].as_f64().unwrap_or_default() > 0.8,
        "the test period is not shaded: {shade}"
    );
    assert!(
        shade["before"].as_f64().unwrap_or(1.0) < 0.2,
        "the training period is shaded: {shade}"
    );

    // A fast pair trades every few days: hundreds of markers on a 500-pixel chart.
    run(client, "select(-1, { fast: 2, slow: 4 }); return null;").await;
    eventually(20, "the fast pair's trades", || async {
        let charted = attribute(client, "#equity-chart", "data-params").await?;
        (charted == "fast=2 slow=4").then_some(())
    })
    .await;
    let whole = run(client, "const d = document.getElementById('price-chart').dataset; const events = page.charts.price.trades.reduce((n, t) => n + (t.exit_date ? 2 : 1), 0); const counted = page.charts.price.markers.markers().reduce((n, m) => n + (m.text ? Number(m.text) : 1), 0); return { markers: Number(d.markers), per: Number(d.barsPerMarker), events, counted };").await;
    let events = whole["events"].as_u64().unwrap_or_default();
    assert!(events > 200, "{whole}");
    assert_eq!(
        whole["counted"].as_u64(),
        Some(events),
        "every trade is counted once: {whole}"
    );
    assert!(whole["per"].as_u64().unwrap_or_default() > 1, "{whole}");
    assert!(
        whole["markers"].as_u64().unwrap_or(u64::MAX) < events,
        "the markers are not thinned: {whole}"
    );

    run(client, "page.charts.price.chart.timeScale().setVisibleLogicalRange({ from: 0, to: 30 }); return null;").await;
    let zoomed = eventually(10, "markers re-thinned after zooming in", || async {
        let state = run(client, "const d = document.getElementById('price-chart').dataset; const r = page.charts.equity.chart.timeScale().getVisibleLogicalRange(); const p = page.charts.price.chart.timeScale().getVisibleLogicalRange(); return { per: Number(d.barsPerMarker), from: r && r.from, to: r && r.to, priceFrom: p.from, priceTo: p.to };").await;
        let near = |a: &str, b: &str| {
            state[a].as_f64().zip(state[b].as_f64()).is_some_and(|(x, y)| (x - y).abs() < 0.01)
        };
        // The equity chart follows the price chart's view.
        let followed = near("from", "priceFrom") && near("to", "priceTo");
        (state["per"].as_u64() == Some(1) && followed).then_some(state)
    })
    .await;
    assert!(
        zoomed["priceTo"].as_f64().is_some_and(|v| v < 40.0),
        "{zoomed}"
    );

    click_css(client, "#trades-table tbody tr:nth-child(3)").await;
    let trade = eventually(10, "both charts zoomed to the third trade", || async {
        let state = run(client, "const row = document.querySelector('#trades-table tbody tr:nth-child(3)'); const price = page.charts.price.chart.timeScale().getVisibleRange(); const equity = page.charts.equity.chart.timeScale().getVisibleRange(); return { entry: row.dataset.entry, exit: row.dataset.exit, from: price && price.from, to: price && price.to, equityFrom: equity && equity.from };").await;
        let inside = state["from"].as_str()? <= state["entry"].as_str()? && state["to"].as_str()? >= state["exit"].as_str()?;
        (inside && state["from"] == state["equityFrom"]).then_some(state)
    })
    .await;
    assert!(
        !trade["exit"].as_str().unwrap_or_default().is_empty(),
        "{trade}"
    );

    let spacing = r##"
        const candles = page.charts.price.candles;
        const low = Math.min(...page.bars.map((bar) => bar.low));
        const [a, b, c] = [low, low * 1.5, low * 2.25].map((price) => candles.priceToCoordinate(price));
        return Math.abs((a - b) - (b - c));
    "##;
    let linear = run(client, spacing).await.as_f64().unwrap_or_default();
    click(client, "log-scale").await;
    let logarithmic = eventually(10, "the log scale", || async {
        let gap = run(client, spacing).await.as_f64()?;
        (gap < 1.0).then_some(gap)
    })
    .await;
    assert!(
        linear > 5.0,
        "equal ratios were already equally spaced: {linear} {logarithmic}"
    );
    click(client, "log-scale").await;
}

/// While an uncached symbol downloads, the page shows the fetching phase (requests done out of
/// the total, then the time left); Cancel stops the job, and the page says so. The page fits a
/// 500-pixel screen without sideways scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_optimizer_shows_the_download_cancels_it_and_fits_a_narrow_screen() {
    let Some((driver_path, browser)) = browser_tools() else {
        return;
    };
    let options = crate::harness::Options {
        latency: Duration::from_millis(250),
        ..Default::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let driver = Driver::start(&driver_path);
    let client = driver.connect(&browser).await;
    client
        .set_window_size(500, 1000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .goto(&app.url("/dashboard/optimizer"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(15, "the strategy catalog", || async {
        client.find(Locator::Css("#range-slow")).await.ok()
    })
    .await;
    let fits = "return { page: document.documentElement.scrollWidth, screen: window.innerWidth, form: document.getElementById('optimize-form').getBoundingClientRect().right };";
    let layout = run(&client, fits).await;
    assert!(
        layout["screen"].as_f64().unwrap_or_default() <= 500.0,
        "{layout}"
    );
    assert!(
        layout["page"].as_f64() <= layout["screen"].as_f64(),
        "the page scrolls sideways: {layout}"
    );
    assert!(
        layout["form"].as_f64() <= layout["screen"].as_f64(),
        "{layout}"
    );

    // 1990 to 2020 at 182 days a request: about 62 requests of 250 ms, 4 at a time.
    fill(
        &client,
        &[
            ("symbol", "AAPL"),
            ("start", "1990-01-01"),
            ("end", "2020-12-31"),
        ],
    )
    .await;
    click(&client, "analyze").await;
    let fetching = eventually(20, "the fetching phase with its ETA", || async {
        let text = text_of(&client, "status").await;
        (text.starts_with("Fetching AAPL:") && text.contains("requests") && text.contains("s left"))
            .then_some(text)
    })
    .await;
    let numbers: Vec<u64> = fetching
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect();
    assert!(
        numbers.len() >= 2 && numbers[0] < numbers[1] && numbers[1] > 30,
        "{fetching}"
    );
    click(&client, "cancel").await;
    eventually(20, "the cancelled search", || async {
        let text = text_of(&client, "status").await;
        (text == "Cancelled: nothing was ranked.").then_some(())
    })
    .await;
    assert_eq!(text_of(&client, "error").await, "");
    assert!(
        client
            .find(Locator::Css("#top-table tbody tr"))
            .await
            .is_err()
    );
    let requests = app.upstream.count();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.upstream.count(),
        requests,
        "the download went on after Cancel"
    );
    assert!(requests < 62, "{requests} requests: the whole download ran");

    // A short search completes, and its charts fit the narrow screen too.
    fill(
        &client,
        &[
            ("start", "2019-01-01"),
            ("end", "2020-12-31"),
            ("range-fast", "5..20:5"),
            ("range-slow", "30..60:10"),
        ],
    )
    .await;
    click(&client, "analyze").await;
    eventually(60, "the first row's equity curve", || async {
        attribute(&client, "#equity-chart", "data-params").await
    })
    .await;
    let layout = run(&client, "const chart = document.getElementById('equity-chart').getBoundingClientRect(); return { page: document.documentElement.scrollWidth, screen: window.innerWidth, chart: chart.width, right: chart.right };").await;
    assert!(
        layout["page"].as_f64() <= layout["screen"].as_f64(),
        "the results scroll sideways: {layout}"
    );
    assert!(
        layout["chart"].as_f64().unwrap_or_default() > 300.0,
        "{layout}"
    );
    run(
        &client,
        "document.getElementById('equity-chart').scrollIntoView(); return null;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    save_screenshot(&client, "optimizer-narrow").await;
    client.close().await.unwrap_or_else(|e| panic!("{e}"));
    drop(driver);
    app.stop().await;
}

/// Where CI keeps a page's screenshot: `target/dashboard-<page>.png`.
fn screenshot_path(page: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join(format!("dashboard-{page}.png"))
}

/// Saves what the browser shows as `target/dashboard-<page>.png`.
async fn save_screenshot(client: &Client, page: &str) {
    let png = client.screenshot().await.unwrap_or_else(|e| panic!("{e}"));
    let path = screenshot_path(page);
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_analyzes_a_grid_charts_a_selected_row_and_warms_a_symbol() {
    let Some((driver_path, browser)) = browser_tools() else {
        return;
    };
    let app = TestApp::start(Backend::sqlite().await).await;
    let driver = Driver::start(&driver_path);
    let client = driver.connect(&browser).await;

    client
        .goto(&app.url("/dashboard/optimizer"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The range inputs exist once the catalog has loaded.
    eventually(15, "the strategy catalog", || async {
        client.find(Locator::Css("#range-slow")).await.ok()
    })
    .await;
    // A refused request shows the API's message and marks the input at fault.
    fill(
        &client,
        &[
            ("symbol", "AAPL"),
            ("start", "2015-01-01"),
            ("end", "2020-12-31"),
            ("range-fast", "20..5"),
            ("range-slow", "30..60:10"),
            ("top", "5"),
        ],
    )
    .await;
    click(&client, "analyze").await;
    let shown = eventually(15, "the error for an inverted range", || async {
        let text = client
            .find(Locator::Id("error"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(
        shown.contains("fast") && shown.contains("ranges.fast"),
        "{shown}"
    );
    assert_eq!(
        attribute(&client, "#range-fast", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    assert!(
        client
            .find(Locator::Css("#top-table tbody tr"))
            .await
            .is_err()
    );

    fill(
        &client,
        &[
            ("range-fast", "5..20:5"),
            ("fees", "0.1"),
            ("train-until", "2019-12-31"),
        ],
    )
    .await;
    click(&client, "analyze").await;

    // The first row is selected and its equity curve and trades are drawn.
    let first_row = eventually(60, "the first row's equity curve", || async {
        let row = attribute(
            &client,
            "#top-table tbody tr[data-index='0']",
            "data-params",
        )
        .await?;
        let charted = attribute(&client, "#equity-chart", "data-params").await?;
        attribute(&client, "#price-chart", "data-trades").await?;
        (row == charted).then_some(row)
    })
    .await;
    let error = text_of(&client, "error").await;
    assert_eq!(error, "", "the page shows an error");

    // The API ranks the same grid the same way.
    let started = app
        .post_json(
            "/api/optimize",
            &json!({"symbol": "AAPL", "strategy": "sma-cross",
                "ranges": {"fast": "5..20:5", "slow": "30..60:10"},
                "start": "2015-01-01", "end": "2020-12-31", "top": 5,
                "fees": 0.001, "train_until": "2019-12-31"}),
        )
        .await;
    started.expect(202);
    let job = app
        .wait_for_job(started.json()["job_id"].as_u64().unwrap_or_default())
        .await;
    let best = &job["result"]["top"][0]["parameters"];
    assert_eq!(
        first_row,
        format!("fast={} slow={}", best["fast"], best["slow"])
    );
    let rows = client
        .find_all(Locator::Css("#top-table tbody tr"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 5);
    // The split's test results sit beside the ranked ones, as the API computed them.
    let headers = client
        .find(Locator::Css("#top-table thead"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(headers.contains("Sharpe (test)"), "{headers}");
    let first_test_sharpe = client
        .execute(
            "return document.querySelector('#top-table tbody tr').lastElementChild.previousElementSibling.textContent;",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api_test_sharpe = job["result"]["top"][0]["out_of_sample"]["sharpe"]
        .as_f64()
        .map(|sharpe| format!("{sharpe:.3}"));
    assert_eq!(
        first_test_sharpe.as_str().map(str::to_owned),
        api_test_sharpe
    );
    check_the_selection_card_drawdown_and_trades(&app, &client, &job).await;
    check_the_charts_read_as_a_person_sees_them(&client).await;
    check_the_heat_map_draws_and_charts_a_clicked_cell(&client).await;
    let canvases = client
        .find_all(Locator::Css("#price-chart canvas"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!canvases.is_empty(), "no candlestick chart drawn");

    // Clicking the second row charts that combination.
    let second = rows
        .get(1)
        .unwrap_or_else(|| panic!("no second row"))
        .clone();
    let second_params = second
        .attr("data-params")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_ne!(second_params, first_row);
    second.click().await.unwrap_or_else(|e| panic!("{e}"));
    eventually(20, "the second row's equity curve", || async {
        let charted = attribute(&client, "#equity-chart", "data-params").await?;
        let selected = attribute(
            &client,
            "#top-table tbody tr[data-index='1']",
            "aria-selected",
        )
        .await?;
        (charted == second_params && selected == "true").then_some(())
    })
    .await;
    let title = text_of(&client, "equity-title").await;
    assert!(title.contains(&second_params), "{title}");

    // So does Enter on a focused row.
    let third = rows
        .get(2)
        .unwrap_or_else(|| panic!("no third row"))
        .clone();
    let third_params = third
        .attr("data-params")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    third
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(20, "the third row's equity curve", || async {
        let charted = attribute(&client, "#equity-chart", "data-params").await?;
        (charted == third_params).then_some(())
    })
    .await;

    // The whole period in view for the picture.
    run(&client, "page.charts.price.chart.timeScale().fitContent(); document.getElementById('selection-panel').scrollIntoView(); return null;").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    save_screenshot(&client, "optimizer").await;

    // TSLA asked from 2008, two years before its listing (2010-06-29 on the synthetic market).
    let tsla = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["TSLA"], "start": "2008-01-01", "end": "2012-12-31"}),
        )
        .await;
    tsla.expect(202);
    let warmed = app
        .wait_for_job(tsla.json()["job_id"].as_u64().unwrap_or_default())
        .await;
    assert_eq!(warmed["state"], "succeeded", "{warmed}");

    // The cache page lists AAPL; warming MSFT through the form adds it.
    client
        .goto(&app.url("/dashboard/cache"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(15, "AAPL in the cache table", || async {
        client
            .find(Locator::Css("tr[data-symbol='AAPL']"))
            .await
            .ok()
    })
    .await;
    assert!(
        client
            .find(Locator::Css("tr[data-symbol='MSFT']"))
            .await
            .is_err()
    );
    fill(
        &client,
        &[
            ("symbols", "MSFT"),
            ("warm-start", "2020-01-01"),
            ("warm-end", "2020-06-30"),
        ],
    )
    .await;
    click(&client, "warm-submit").await;
    let bars = eventually(30, "MSFT in the cache table", || async {
        let row = client
            .find(Locator::Css("tr[data-symbol='MSFT'] td"))
            .await
            .ok()?;
        row.text().await.ok()
    })
    .await;
    // 2020-01-02 to 2020-06-30: 125 NYSE sessions.
    assert_eq!(bars, "125");
    check_coverage_strips_share_one_axis(&app, &client).await;
    check_a_symbol_opens_its_ledger(&app, &client).await;
    save_screenshot(&client, "cache").await;
    let status = text_of(&client, "status").await;
    assert!(status.starts_with("Warmed 1 of 1"), "{status}");

    // Clearing asks first; cancelling keeps the symbol, confirming removes it.
    let clear_msft = "tr[data-symbol='MSFT'] button.danger";
    click_css(&client, clear_msft).await;
    click_css(&client, "#confirm-clear button[value='cancel']").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        client
            .find(Locator::Css("tr[data-symbol='MSFT']"))
            .await
            .is_ok(),
        "cancelling the confirmation cleared the symbol"
    );
    let kept = app
        .get("/api/bars/MSFT?start=2020-01-01&end=2020-06-30&offline=true")
        .await
        .json();
    assert_eq!(kept["bars"].as_array().map(Vec::len), Some(125));
    click_css(&client, clear_msft).await;
    click(&client, "confirm-button").await;
    eventually(15, "MSFT gone from the cache table", || async {
        client
            .find(Locator::Css("tr[data-symbol='MSFT']"))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let status = text_of(&client, "status").await;
    assert_eq!(status, "Cleared MSFT: 125 bars deleted.");
    assert!(
        client
            .find(Locator::Css("tr[data-symbol='AAPL']"))
            .await
            .is_ok(),
        "clearing MSFT kept AAPL"
    );

    client.close().await.unwrap_or_else(|e| panic!("{e}"));
    drop(driver);
    app.stop().await;
}
