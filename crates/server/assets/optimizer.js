// The optimizer page: builds the grid-search form from /api/strategies, runs /api/optimize as
// a job (its fetching phase, requests done / total with an ETA, then the search), then shows
// the data report, the top-N table, the heat map and, for the selected combination, a metrics
// card, its equity against buy-and-hold over a drawdown pane, the candlesticks with its trades
// (thinned where they would overlap) and a trade table; the charts share one time axis and
// shade the test period of a train/test split.
"use strict";

const page = {
  strategies: [],
  request: null,      // the optimize request of the results shown
  result: null,       // the optimize job's result
  bars: [],
  baseline: null,     // buy-and-hold's backtest over the same bars
  selected: -1,
  charts: {},
  selectToken: 0,     // ignores answers to superseded selections
  job: null,          // the running search's job id, for Cancel
  barIndex: new Map(), // each bar's date → its index, for markers and zooming
  axesLinked: false,
};

const $ = (id) => document.getElementById(id);

function fieldElements() {
  const fields = { symbol: $("symbol"), start: $("start"), end: $("end"), ranges: $("ranges"), top: $("top"), metric: $("metric"), strategy: $("strategy"),
    initial_cash: $("initial-cash"), fees: $("fees"), slippage: $("slippage"), train_until: $("train-until"), min_trades: $("min-trades") };
  for (const input of document.querySelectorAll("input[id^='range-']")) {
    fields[`ranges.${input.id.slice("range-".length)}`] = input;
  }
  return fields;
}

async function loadStrategies() {
  try {
    const catalog = await api("/api/strategies");
    page.strategies = catalog.strategies.filter((strategy) => strategy.parameters.length > 0);
    $("strategy").replaceChildren(...page.strategies.map((s) => element("option", { value: s.name }, s.name)));
    $("metric").replaceChildren(...catalog.metrics.map((m) => element("option", { value: m }, m)));
    $("strategy").value = "sma-cross";
    renderRangeInputs();
  } catch (error) {
    $("ranges-loading").textContent = "";
    showError($("error"), error);
  }
}

/** The range the server searches for a parameter when none is given. */
function defaultRange(parameter) {
  return parameter.default_range;
}

function renderRangeInputs() {
  const strategy = page.strategies.find((s) => s.name === $("strategy").value);
  if (!strategy) return;
  $("strategy-description").textContent = strategy.description;
  const legend = $("ranges").querySelector("legend");
  const inputs = strategy.parameters.flatMap((parameter) => {
    const id = `range-${parameter.name}`;
    return [
      element("label", { for: id }, `${parameter.name} (${parameter.kind} ${parameter.min}–${parameter.max})`),
      element("input", { id, name: parameter.name, "data-parameter": parameter.name, value: defaultRange(parameter), required: "", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-hint` }),
      element("p", { class: "hint", id: `${id}-hint` }, parameter.description),
    ];
  });
  $("ranges").replaceChildren(legend, ...inputs);
}

function optimizeRequest() {
  const ranges = {};
  for (const input of $("ranges").querySelectorAll("input[data-parameter]")) ranges[input.dataset.parameter] = input.value.trim();
  const request = {
    symbol: $("symbol").value.trim(),
    strategy: $("strategy").value,
    ranges,
    metric: $("metric").value,
    top: Number($("top").value),
    min_trades: Number($("min-trades").value || 0),
    heatmap: $("with-heatmap").checked,
  };
  if ($("start").value) request.start = $("start").value;
  if ($("end").value) request.end = $("end").value;
  Object.assign(request, tradingSettings());
  if ($("train-until").value) request.train_until = $("train-until").value;
  return request;
}

/** Cash, fees and slippage as the API takes them (fractions; the form shows percent). */
function tradingSettings() {
  const percent = (id) => Number($(id).value || 0) / 100;
  return { initial_cash: Number($("initial-cash").value || 10000), fees: percent("fees"), slippage: percent("slippage") };
}

function setBusy(busy) {
  $("cancel").hidden = !busy;
  $("cancel").disabled = false;
  $("analyze").disabled = busy;
  $("analyze").textContent = busy ? "Analyzing…" : "Analyze";
  document.body.setAttribute("aria-busy", busy ? "true" : "false");
}

async function analyze(event) {
  event.preventDefault();
  showError($("error"), null, fieldElements());
  const request = optimizeRequest();
  const progress = $("progress");
  setBusy(true);
  $("status").textContent = "Starting the search…";
  try {
    const accepted = await api("/api/optimize", { method: "POST", body: request });
    page.job = accepted.job_id;
    progress.hidden = false;
    progress.value = 0;
    const describe = phaseDescriber(request.symbol);
    const snapshot = await followJob(accepted.job_id, (job) => {
      const { text, fraction } = describe(job);
      progress.value = fraction;
      $("status").textContent = text;
    });
    if (snapshot.state === "cancelled") {
      $("status").textContent = "Cancelled: nothing was ranked.";
      return;
    }
    if (snapshot.state !== "succeeded") {
      const detail = snapshot.error || { message: `The search ended: ${snapshot.state}` };
      throw new ApiFailure(0, detail.message, detail.field, detail.code);
    }
    $("status").textContent = "Loading charts…";
    await showResult(request, snapshot.result);
    const result = snapshot.result;
    const none = result.top.length === 0 ? ` None made ${result.min_trades} trades: lower the minimum.` : "";
    $("status").textContent = `Done: ${result.evaluated.toLocaleString()} combinations over ${result.bars.toLocaleString()} bars in ${formatNumber(result.elapsed_ms, 0)} ms.${none}`;
  } catch (error) {
    $("status").textContent = "";
    showError($("error"), error, fieldElements());
  } finally {
    page.job = null;
    progress.hidden = true;
    setBusy(false);
  }
}

/**
 * What a running search is doing, for the status line and the progress bar: first the bars'
 * upstream requests (done / total, and the time left at the rate so far), then the grid.
 */
function phaseDescriber(symbol) {
  let fetchStarted = null;
  return (job) => {
    if (job.phase === "fetching") {
      const { done, total } = job.requests;
      if (total === 0) return { text: `Reading ${symbol}'s bars…`, fraction: 0 };
      fetchStarted = fetchStarted || performance.now();
      const seconds = (performance.now() - fetchStarted) / 1000;
      const left = done > 0 && done < total ? Math.ceil(((total - done) * seconds) / done) : null;
      const eta = left === null ? "" : `, about ${left} s left`;
      return { text: `Fetching ${symbol}: ${done.toLocaleString()} / ${total.toLocaleString()} requests${eta}`, fraction: done / total };
    }
    const { text, fraction } = describeProgress(job);
    return { text: `Searching: ${text} combinations`, fraction };
  };
}

/** Cancels the running search (the server stops ranking at once). */
async function cancelSearch() {
  if (page.job === null || page.job === undefined) return;
  $("cancel").disabled = true;
  $("status").textContent = "Cancelling…";
  try {
    await api(`/api/jobs/${page.job}/cancel`, { method: "POST" });
  } catch (error) {
    showError($("error"), error);
  }
}

async function showResult(request, result) {
  page.request = request;
  page.result = result;
  page.selected = -1;
  $("results").hidden = false;
  renderReport(result);
  renderTable(result);
  renderHeatmap(result.heatmap);
  const range = [request.start ? `start=${request.start}` : "", request.end ? `end=${request.end}` : ""].filter(Boolean).join("&");
  const [bars, baseline] = await Promise.all([
    api(`/api/bars/${encodeURIComponent(result.symbol)}?${range}`),
    api("/api/backtest", { method: "POST", body: { symbol: request.symbol, strategy: "buy-and-hold", start: request.start, end: request.end, initial_cash: request.initial_cash, fees: request.fees, slippage: request.slippage, trades: false } }),
  ]);
  page.bars = bars.bars;
  page.barIndex = new Map(page.bars.map((bar, index) => [bar.date, index]));
  page.baseline = baseline;
  drawPrice();
  if (result.top.length > 0) await select(0);
}

function renderReport(result) {
  const data = result.data;
  const entries = [
    ["Bars", result.fingerprint.bars.toLocaleString()],
    ["From", result.fingerprint.first_date],
    ["To", result.fingerprint.last_date],
    ["Cached bars", data.cached_bars.toLocaleString()],
    ["Fetched bars", data.fetched_bars.toLocaleString()],
    ["Upstream requests", data.upstream_requests.toLocaleString()],
    ["Read time", `${formatNumber(data.elapsed_ms, 1)} ms`],
    ["Search time", `${formatNumber(result.elapsed_ms, 0)} ms`],
    ["Combinations", `${result.evaluated.toLocaleString()} of ${result.combinations.toLocaleString()}`],
    ["Data hash", result.fingerprint.hash],
  ];
  $("report").replaceChildren(...entries.flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
}

function parameterText(parameters) {
  return Object.entries(parameters).map(([name, value]) => `${name}=${value}`).join(" ");
}

function renderTable(result) {
  const names = result.top.length ? Object.keys(result.top[0].parameters) : [];
  const columns = [
    ["Sharpe", (m) => formatNumber(m.sharpe, 3)],
    ["Total return", (m) => formatPercent(m.total_return)],
    ["CAGR", (m) => formatPercent(m.cagr)],
    ["Max drawdown", (m) => formatPercent(m.max_drawdown)],
    ["Trades", (m) => m.trades],
    ["Win rate", (m) => formatPercent(m.win_rate)],
  ];
  // With a split, the same run on the later bars, beside the ranked ones.
  if (result.top.some((row) => row.out_of_sample)) {
    columns.push(
      ["Sharpe (test)", (m, row) => formatNumber(row.out_of_sample && row.out_of_sample.sharpe, 3)],
      ["Return (test)", (m, row) => (row.out_of_sample ? formatPercent(row.out_of_sample.total_return) : "–")],
    );
  }
  const head = element("thead", {}, element("tr", {},
    element("th", { scope: "col" }, "#"),
    ...names.map((name) => element("th", { scope: "col" }, name)),
    ...columns.map(([title]) => element("th", { scope: "col" }, title))));
  const rows = result.top.map((row, index) => {
    const tr = element("tr", { tabindex: "0", "aria-selected": "false", "data-index": String(index), "data-params": parameterText(row.parameters) },
      element("td", {}, index + 1),
      ...names.map((name) => element("td", {}, row.parameters[name])),
      ...columns.map(([, cell]) => element("td", {}, cell(row.metrics, row))));
    tr.addEventListener("click", () => select(index));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(index); }
      if (event.key === "ArrowDown" && tr.nextElementSibling) { event.preventDefault(); tr.nextElementSibling.focus(); }
      if (event.key === "ArrowUp" && tr.previousElementSibling) { event.preventDefault(); tr.previousElementSibling.focus(); }
    });
    return tr;
  });
  const caption = element("caption", { class: "visually-hidden" }, `Top ${result.top.length} of ${result.strategy} on ${result.symbol} by ${result.metric}`);
  $("top-table").replaceChildren(caption, head, element("tbody", {}, ...rows));
}

/** Selects combination `index` of the table (or a heat-map cell's `parameters`). */
async function select(index, parameters) {
  const chosen = parameters || page.result.top[index].parameters;
  page.selected = index;
  for (const row of $("top-table").querySelectorAll("tbody tr")) {
    row.setAttribute("aria-selected", String(Number(row.dataset.index) === index));
  }
  const token = ++page.selectToken;
  const label = `${page.result.strategy} ${parameterText(chosen)}`;
  $("equity-title").textContent = `Equity: ${label} (loading…)`;
  showError($("equity-error"), null);
  try {
    const backtest = await api("/api/backtest", {
      method: "POST",
      body: { symbol: page.request.symbol, strategy: page.result.strategy, params: chosen, start: page.request.start, end: page.request.end,
        initial_cash: page.request.initial_cash, fees: page.request.fees, slippage: page.request.slippage },
    });
    if (token !== page.selectToken) return;
    const ranked = index >= 0 ? page.result.top[index] : null;
    renderMetrics(backtest, ranked, label);
    drawEquity(backtest, label);
    drawTrades(backtest.trades);
    renderTrades(backtest.trades);
  } catch (error) {
    if (token !== page.selectToken) return;
    $("equity-title").textContent = `Equity: ${label}`;
    showError($("equity-error"), error);
  }
}

/** The metrics card's rows: label, how to show the value, and whether higher is better. */
const METRIC_ROWS = [
  ["Total return", "total_return", formatPercent],
  ["CAGR", "cagr", formatPercent],
  ["Sharpe", "sharpe", (v) => formatNumber(v, 3)],
  ["Sortino", "sortino", (v) => formatNumber(v, 3)],
  ["Calmar", "calmar", (v) => formatNumber(v, 3)],
  ["Volatility (annual)", "annualized_volatility", formatPercent],
  ["Max drawdown", "max_drawdown", formatPercent],
  ["Trades", "trades", (v) => (v === null || v === undefined ? "–" : String(v))],
  ["Win rate", "win_rate", formatPercent],
  ["Average trade", "average_trade_return", formatPercent],
  ["Exposure", "exposure", formatPercent],
  ["Final equity", "final_equity", (v) => formatNumber(v, 2)],
];

/**
 * The selected combination's metrics beside buy-and-hold over the same bars; with a split, also
 * the ranked (training) and the test figures, so overfitting shows as a drop from one to the other.
 */
function renderMetrics(backtest, ranked, label) {
  const columns = [["Whole period", backtest.metrics], ["Buy-and-hold", backtest.buy_and_hold]];
  if (ranked && ranked.out_of_sample) {
    columns.push([`Ranked (to ${page.result.train_until})`, ranked.metrics], ["Test (after)", ranked.out_of_sample]);
  }
  const head = element("thead", {}, element("tr", {}, element("th", { scope: "col" }, "Metric"),
    ...columns.map(([title]) => element("th", { scope: "col" }, title))));
  const rows = METRIC_ROWS.map(([title, key, show]) => element("tr", { "data-metric": key },
    element("th", { scope: "row" }, title),
    ...columns.map(([, metrics]) => element("td", {}, show(metrics[key])))));
  const m = backtest.metrics;
  const period = element("tr", {}, element("th", { scope: "row" }, "Bars"),
    ...columns.map(([, metrics]) => element("td", { class: "period" }, `${metrics.bars.toLocaleString()}: ${metrics.first_date} → ${metrics.last_date}`)));
  $("metrics-table").replaceChildren(element("caption", { class: "visually-hidden" }, `Metrics of ${label}`), head, element("tbody", {}, period, ...rows));
  $("selection-title").textContent = `${label}: Sharpe ${formatNumber(m.sharpe, 3)}, max drawdown ${formatPercent(m.max_drawdown)}, ${m.trades} trades`;
}

/** Every trade of the selected combination; selecting one zooms both charts to it. */
function renderTrades(trades) {
  const head = element("thead", {}, element("tr", {}, ...["#", "Entry", "Entry price", "Exit", "Exit price", "Shares", "P&L", "Return"]
    .map((title) => element("th", { scope: "col" }, title))));
  const rows = trades.map((trade, index) => {
    const outcome = trade.pnl >= 0 ? "good" : "bad";
    const tr = element("tr", { tabindex: "0", "data-entry": trade.entry_date, "data-exit": trade.exit_date || "" },
      element("td", {}, index + 1),
      element("td", {}, trade.entry_date),
      element("td", {}, formatNumber(trade.entry_price, 2)),
      element("td", {}, trade.exit_date || "open"),
      element("td", {}, formatNumber(trade.exit_price, 2)),
      element("td", {}, formatNumber(trade.shares, 2)),
      element("td", { class: outcome }, formatNumber(trade.pnl, 2)),
      element("td", { class: outcome }, formatPercent(trade.return_rate)));
    const zoom = () => zoomTo(trade.entry_date, trade.exit_date);
    tr.addEventListener("click", zoom);
    tr.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); zoom(); } });
    return tr;
  });
  const won = trades.filter((trade) => trade.exit_date && trade.pnl > 0).length;
  const closed = trades.filter((trade) => trade.exit_date).length;
  $("trades-title").textContent = `Trades: ${trades.length.toLocaleString()} (${won} of ${closed} closed ones won)`;
  $("trades-table").replaceChildren(head, element("tbody", {}, ...rows));
}

/** Shows `from`..`to` (and a little around it) on both charts. */
function zoomTo(from, to) {
  const first = page.barIndex.get(from);
  const last = to ? page.barIndex.get(to) : page.bars.length - 1;
  if (first === undefined || last === undefined) return;
  const margin = Math.max(5, Math.round((last - first) * 0.25));
  page.charts.price.chart.timeScale().setVisibleLogicalRange({ from: first - margin, to: last + margin });
}

function chartOptions(container) {
  return {
    width: container.clientWidth,
    height: container.clientHeight,
    layout: { background: { color: "#ffffff" }, textColor: "#1d2330", panes: { separatorColor: "#d9dde5" } },
    grid: { vertLines: { color: "#eef0f4" }, horzLines: { color: "#eef0f4" } },
    // A small minimum spacing lets fitContent show decades of daily bars at once.
    timeScale: { borderColor: "#d9dde5", minBarSpacing: 0.01 },
    rightPriceScale: { borderColor: "#d9dde5", mode: priceScaleMode() },
    autoSize: true,
  };
}

/** The price axes' mode the log-scale box asks for. */
function priceScaleMode() {
  const modes = LightweightCharts.PriceScaleMode;
  return $("log-scale").checked ? modes.Logarithmic : modes.Normal;
}

/** Applies the log-scale box to the equity and the price axes (the drawdown pane stays linear). */
function applyScaleMode() {
  for (const entry of Object.values(page.charts)) {
    entry.chart.priceScale("right", 0).applyOptions({ mode: priceScaleMode() });
  }
}

/**
 * The test period after a train/test split, shaded over the whole height of a chart: a column
 * per test day on a hidden scale, in a solid pale colour (at decades per chart, columns narrower
 * than a pixel overlap, and a translucent one would darken where they do).
 */
function addSplitShade(chart) {
  const shade = chart.addSeries(LightweightCharts.HistogramSeries, {
    priceScaleId: "split", color: "#fbeed6", base: 0,
    lastValueVisible: false, priceLineVisible: false, priceFormat: { type: "volume" },
  });
  chart.priceScale("split").applyOptions({ visible: false, scaleMargins: { top: 0, bottom: 0 } });
  return shade;
}

/** Bars after `train_until` as shade points: on each test day, nothing before. */
function splitPoints(dates) {
  const until = page.result && page.result.train_until;
  $("split-legend").hidden = !until;
  if (!until) return [];
  return dates.filter((date) => date > until).map((date) => ({ time: date, value: 1 }));
}

/** `equity` as a running drawdown from its peak, in percent. */
function drawdownPoints(curve) {
  let peak = -Infinity;
  return curve.map((point) => {
    peak = Math.max(peak, point.equity);
    return { time: point.date, value: peak > 0 ? (point.equity / peak - 1) * 100 : 0 };
  });
}

function createEquityChart(container) {
  const charts = LightweightCharts;
  const chart = charts.createChart(container, chartOptions(container));
  const percent = { type: "custom", formatter: (value) => `${value.toFixed(1)}%`, minMove: 0.1 };
  const entry = {
    chart,
    shade: addSplitShade(chart),
    baseline: chart.addSeries(charts.LineSeries, { color: "#9aa3b5", lineWidth: 2, title: "buy-and-hold" }),
    strategy: chart.addSeries(charts.LineSeries, { color: "#2458d3", lineWidth: 2, title: "strategy" }),
    baselineDrawdown: chart.addSeries(charts.LineSeries, { color: "#9aa3b5", lineWidth: 1, priceFormat: percent, lastValueVisible: false, priceLineVisible: false }, 1),
    drawdown: chart.addSeries(charts.BaselineSeries, {
      baseValue: { type: "price", price: 0 }, bottomLineColor: "#b42318", bottomFillColor1: "rgba(180, 35, 24, 0.08)", bottomFillColor2: "rgba(180, 35, 24, 0.35)",
      topLineColor: "#b42318", lineWidth: 1, priceFormat: percent, title: "drawdown",
    }, 1),
  };
  const panes = chart.panes();
  if (panes.length > 1) { panes[0].setStretchFactor(3); panes[1].setStretchFactor(1); }
  return entry;
}

function drawEquity(backtest, label) {
  const container = $("equity-chart");
  if (!page.charts.equity) {
    page.charts.equity = createEquityChart(container);
    linkTimeAxes();
  }
  const equity = page.charts.equity;
  const points = (curve) => curve.map((point) => ({ time: point.date, value: point.equity }));
  equity.shade.setData(splitPoints(backtest.equity_curve.map((point) => point.date)));
  equity.baseline.setData(points(page.baseline.equity_curve));
  equity.strategy.setData(points(backtest.equity_curve));
  equity.baselineDrawdown.setData(drawdownPoints(page.baseline.equity_curve));
  equity.drawdown.setData(drawdownPoints(backtest.equity_curve));
  equity.strategy.applyOptions({ title: parameterText(backtest.parameters) });
  // The equity chart follows the price chart's view, so both show the same days.
  const view = page.charts.price.chart.timeScale().getVisibleLogicalRange();
  if (view) equity.chart.timeScale().setVisibleLogicalRange(view);
  else equity.chart.timeScale().fitContent();
  const m = backtest.metrics;
  const b = backtest.buy_and_hold;
  $("equity-title").textContent = `Equity: ${label} — ${formatPercent(m.total_return)} vs buy-and-hold ${formatPercent(b.total_return)}`;
  container.dataset.params = parameterText(backtest.parameters);
  container.setAttribute("aria-label", `Equity curve of ${label}: total return ${formatPercent(m.total_return)}, buy-and-hold ${formatPercent(b.total_return)}; drawdown below, deepest ${formatPercent(m.max_drawdown)}`);
}

function drawPrice() {
  const container = $("price-chart");
  const charts = LightweightCharts;
  if (!page.charts.price) {
    const chart = charts.createChart(container, chartOptions(container));
    const shade = addSplitShade(chart);
    const candles = chart.addSeries(charts.CandlestickSeries, {
      upColor: "#1a7f4b", downColor: "#b42318", borderVisible: false, wickUpColor: "#1a7f4b", wickDownColor: "#b42318",
    });
    page.charts.price = { chart, shade, candles, markers: charts.createSeriesMarkers(candles, []), trades: [] };
    // Zooming re-thins the markers: each trade gets its own once there is room for it.
    let pending = false;
    chart.timeScale().subscribeVisibleLogicalRangeChange(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; placeMarkers(); });
    });
    linkTimeAxes();
  }
  const price = page.charts.price;
  price.shade.setData(splitPoints(page.bars.map((bar) => bar.date)));
  price.candles.setData(page.bars.map((bar) => ({ time: bar.date, open: bar.open, high: bar.high, low: bar.low, close: bar.close })));
  price.trades = [];
  price.markers.setMarkers([]);
  price.chart.timeScale().fitContent();
  $("price-title").textContent = `${page.result.symbol}: ${page.bars.length.toLocaleString()} daily bars`;
}

/**
 * Keeps the two charts on one time axis: scrolling or zooming either moves the other. Both
 * hold one point per bar of the same range, so their logical ranges (bar indices) match.
 */
function linkTimeAxes() {
  const { price, equity } = page.charts;
  if (!price || !equity || page.axesLinked) return;
  page.axesLinked = true;
  const follow = (source, target) => source.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (!range) return;
    const current = target.timeScale().getVisibleLogicalRange();
    if (current && Math.abs(current.from - range.from) < 0.01 && Math.abs(current.to - range.to) < 0.01) return;
    target.timeScale().setVisibleLogicalRange(range);
  });
  follow(price.chart, equity.chart);
  follow(equity.chart, price.chart);
}

/** Fewest pixels between two markers of one kind before they are merged into one. */
const MARKER_GAP_PX = 9;

function drawTrades(trades) {
  page.charts.price.trades = trades;
  placeMarkers();
  const container = $("price-chart");
  container.dataset.trades = String(trades.length);
  container.setAttribute("aria-label", `Candlestick chart of ${page.result.symbol} with ${trades.length} trades marked`);
}

/**
 * The trade markers at the current zoom: entries (and exits) closer than MARKER_GAP_PX merge
 * into one marker counting them, so 350 trades over 35 years read as clusters, not a smear.
 */
function placeMarkers() {
  const price = page.charts.price;
  if (!price) return;
  const range = price.chart.timeScale().getVisibleLogicalRange();
  const width = price.chart.timeScale().width() || 1;
  const visibleBars = range ? Math.max(1, range.to - range.from) : page.bars.length;
  const barsPerMarker = Math.max(1, Math.ceil(MARKER_GAP_PX / (width / visibleBars)));
  const groups = new Map();
  const add = (date, kind) => {
    const index = page.barIndex.get(date);
    if (index === undefined) return;
    const key = `${kind}:${Math.floor(index / barsPerMarker)}`;
    const group = groups.get(key);
    if (group) group.count += 1;
    else groups.set(key, { date, kind, count: 1 });
  };
  for (const trade of price.trades) {
    add(trade.entry_date, "entry");
    if (trade.exit_date) add(trade.exit_date, "exit");
  }
  const markers = [...groups.values()].map((group) => (group.kind === "entry"
    ? { time: group.date, position: "belowBar", color: "#1a7f4b", shape: "arrowUp", text: group.count > 1 ? String(group.count) : "" }
    : { time: group.date, position: "aboveBar", color: "#b42318", shape: "arrowDown", text: group.count > 1 ? String(group.count) : "" }));
  markers.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  price.markers.setMarkers(markers);
  Object.assign($("price-chart").dataset, { markers: String(markers.length), barsPerMarker: String(barsPerMarker) });
}

/** The colour of a metric value: worst red, middle yellow, best green (grey: no combination). */
function heatColour(t) {
  if (t === null) return "#e4e7ec";
  const hue = Math.round(Math.max(0, Math.min(1, t)) * 130);
  return `hsl(${hue}, 70%, ${42 + (1 - Math.abs(t - 0.5) * 2) * 10}%)`;
}

/** Every `step`-th label, so labels of `size` pixels never overlap along `length` pixels. */
function labelStep(count, length, size) {
  return Math.max(1, Math.ceil(count / Math.max(1, Math.floor(length / size))));
}

/**
 * The heat map on a canvas (10,000 cells and more draw at once): one cell per pair of the first
 * two parameters, larger second-parameter values at the top, readable axes, a colour scale with
 * its metric, the value under the pointer, and a click charting that pair.
 */
function renderHeatmap(heatmap) {
  const panel = $("heatmap-panel");
  if (!heatmap) { panel.hidden = true; return; }
  panel.hidden = false;
  const values = heatmap.values.flat().filter((v) => v !== null);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const scale = (value) => (value === null ? null : high > low ? (value - low) / (high - low) : 0.5);
  const canvas = $("heatmap-canvas");
  const columns = heatmap.x.length, rows = heatmap.y.length;
  const font = 12, left = 52, bottom = 40, top = 8, right = 8;
  const width = Math.max(240, $("heatmap").clientWidth || 600);
  const cellWidth = Math.max(1, (width - left - right) / columns);
  const cellHeight = Math.max(3, Math.min(cellWidth, 18, 420 / rows));
  const height = top + rows * cellHeight + bottom;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.height = `${height}px`;
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  heatmap.values.forEach((row, rowIndex) => {
    const y = top + (rows - 1 - rowIndex) * cellHeight;
    row.forEach((value, columnIndex) => {
      context.fillStyle = heatColour(scale(value));
      context.fillRect(left + columnIndex * cellWidth, y, Math.ceil(cellWidth), Math.ceil(cellHeight));
    });
  });
  context.fillStyle = "#1d2330";
  context.font = `${font}px system-ui, sans-serif`;
  context.textAlign = "center";
  context.textBaseline = "top";
  const xStep = labelStep(columns, width - left - right, 44);
  heatmap.x.forEach((value, index) => {
    if (index % xStep === 0) context.fillText(String(value), left + (index + 0.5) * cellWidth, top + rows * cellHeight + 4);
  });
  context.fillText(heatmap.x_parameter, left + (columns * cellWidth) / 2, top + rows * cellHeight + 4 + font + 6);
  context.textAlign = "right";
  context.textBaseline = "middle";
  const yStep = labelStep(rows, rows * cellHeight, font + 6);
  heatmap.y.forEach((value, index) => {
    if (index % yStep === 0) context.fillText(String(value), left - 6, top + (rows - 1 - index + 0.5) * cellHeight);
  });
  context.save();
  context.translate(12, top + (rows * cellHeight) / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = "center";
  context.fillText(heatmap.y_parameter, 0, 0);
  context.restore();

  // Where each cell is, for the pointer (and for tests that click a cell).
  Object.assign(canvas.dataset, { columns, rows, cells: values.length, left, top, cellWidth, cellHeight });
  const twoParameters = Object.keys(page.result.ranges).length === 2;
  const cellAt = (event) => {
    const box = canvas.getBoundingClientRect();
    const column = Math.floor((event.clientX - box.left - left) / cellWidth);
    const row = rows - 1 - Math.floor((event.clientY - box.top - top) / cellHeight);
    if (column < 0 || column >= columns || row < 0 || row >= rows) return null;
    return { column, row, value: heatmap.values[row][column], x: event.clientX - box.left, y: event.clientY - box.top };
  };
  const describe = (cell) => `${heatmap.x_parameter}=${heatmap.x[cell.column]} ${heatmap.y_parameter}=${heatmap.y[cell.row]}: ${heatmap.metric} ${cell.value === null ? "none" : formatNumber(cell.value, 3)}`;
  const tip = $("heatmap-tip");
  canvas.onmousemove = (event) => {
    const cell = cellAt(event);
    tip.hidden = !cell;
    if (!cell) return;
    tip.textContent = describe(cell);
    tip.style.left = `${Math.min(cell.x + 12, width - tip.offsetWidth - 4)}px`;
    tip.style.top = `${Math.max(0, cell.y - 28)}px`;
    canvas.style.cursor = cell.value !== null && twoParameters ? "pointer" : "crosshair";
  };
  canvas.onmouseleave = () => { tip.hidden = true; };
  canvas.onclick = (event) => {
    const cell = cellAt(event);
    if (!cell || cell.value === null || !twoParameters) return;
    select(-1, { [heatmap.x_parameter]: heatmap.x[cell.column], [heatmap.y_parameter]: heatmap.y[cell.row] });
  };
  canvas.setAttribute("aria-label", `${heatmap.metric} by ${heatmap.x_parameter} (across) and ${heatmap.y_parameter} (up), from ${formatNumber(low, 3)} to ${formatNumber(high, 3)}`);

  const legend = $("heatmap-legend").getContext("2d");
  const gradient = legend.createLinearGradient(0, 0, 240, 0);
  for (let stop = 0; stop <= 10; stop += 1) gradient.addColorStop(stop / 10, heatColour(stop / 10));
  legend.fillStyle = gradient;
  legend.fillRect(0, 0, 240, 12);
  $("heatmap-low").textContent = formatNumber(low, 3);
  $("heatmap-high").textContent = formatNumber(high, 3);
  $("heatmap-metric").textContent = `${heatmap.metric}, the best over the other parameters; grey: no combination`;
  $("heatmap-hint").textContent = twoParameters ? "Point at a cell for its value; click it to chart that combination." : "Point at a cell for its value.";
}

document.addEventListener("DOMContentLoaded", () => {
  $("strategy").addEventListener("change", renderRangeInputs);
  $("optimize-form").addEventListener("submit", analyze);
  $("cancel").addEventListener("click", cancelSearch);
  $("log-scale").addEventListener("change", applyScaleMode);
  loadStrategies();
});
