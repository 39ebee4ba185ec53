// The optimizer page: builds the grid-search form from /api/strategies, runs /api/optimize as
// a job with a progress bar, then shows the data report, the top-N table, the heat map, the
// selected combination's equity against buy-and-hold and the candlesticks with its trades.
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
};

const $ = (id) => document.getElementById(id);

function fieldElements() {
  const fields = { symbol: $("symbol"), start: $("start"), end: $("end"), ranges: $("ranges"), top: $("top"), metric: $("metric"), strategy: $("strategy"),
    initial_cash: $("initial-cash"), fees: $("fees"), slippage: $("slippage"), train_until: $("train-until") };
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
    const snapshot = await followJob(accepted.job_id, (job) => {
      const { text, fraction } = describeProgress(job);
      progress.value = fraction;
      $("status").textContent = `Searching: ${text} combinations`;
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
    $("status").textContent = `Done: ${result.evaluated.toLocaleString()} combinations over ${result.bars.toLocaleString()} bars in ${formatNumber(result.elapsed_ms, 0)} ms.`;
  } catch (error) {
    $("status").textContent = "";
    showError($("error"), error, fieldElements());
  } finally {
    page.job = null;
    progress.hidden = true;
    setBusy(false);
  }
}

/** Cancels the running search (the server stops ranking at once). */
async function cancelSearch() {
  if (page.job === null || page.job === undefined) return;
  $("cancel").disabled = true;
  $("status").textContent = "Cancelling…";
  try {
    await api(`/api/jobs/${page.job}`, { method: "DELETE" });
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
    api("/api/backtest", { method: "POST", body: { symbol: request.symbol, strategy: "buy-and-hold", start: request.start, end: request.end, initial_cash: request.initial_cash, fees: request.fees, slippage: request.slippage } }),
  ]);
  page.bars = bars.bars;
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
    drawEquity(backtest, label);
    drawTrades(backtest.trades);
  } catch (error) {
    if (token !== page.selectToken) return;
    $("equity-title").textContent = `Equity: ${label}`;
    showError($("equity-error"), error);
  }
}

function chartOptions(container) {
  return {
    width: container.clientWidth,
    height: container.clientHeight,
    layout: { background: { color: "#ffffff" }, textColor: "#1d2330" },
    grid: { vertLines: { color: "#eef0f4" }, horzLines: { color: "#eef0f4" } },
    // A small minimum spacing lets fitContent show decades of daily bars at once.
    timeScale: { borderColor: "#d9dde5", minBarSpacing: 0.01 },
    rightPriceScale: { borderColor: "#d9dde5" },
    autoSize: true,
  };
}

function drawEquity(backtest, label) {
  const container = $("equity-chart");
  const charts = LightweightCharts;
  if (!page.charts.equity) {
    const chart = charts.createChart(container, chartOptions(container));
    page.charts.equity = {
      chart,
      baseline: chart.addSeries(charts.LineSeries, { color: "#9aa3b5", lineWidth: 2, title: "buy-and-hold" }),
      strategy: chart.addSeries(charts.LineSeries, { color: "#2458d3", lineWidth: 2, title: "strategy" }),
    };
  }
  const equity = page.charts.equity;
  const points = (curve) => curve.map((point) => ({ time: point.date, value: point.equity }));
  equity.baseline.setData(points(page.baseline.equity_curve));
  equity.strategy.setData(points(backtest.equity_curve));
  equity.strategy.applyOptions({ title: parameterText(backtest.parameters) });
  equity.chart.timeScale().fitContent();
  const m = backtest.metrics;
  const b = backtest.buy_and_hold;
  $("equity-title").textContent = `Equity: ${label} — ${formatPercent(m.total_return)} vs buy-and-hold ${formatPercent(b.total_return)}`;
  container.dataset.params = parameterText(backtest.parameters);
  container.setAttribute("aria-label", `Equity curve of ${label}: total return ${formatPercent(m.total_return)}, buy-and-hold ${formatPercent(b.total_return)}`);
}

function drawPrice() {
  const container = $("price-chart");
  const charts = LightweightCharts;
  if (!page.charts.price) {
    const chart = charts.createChart(container, chartOptions(container));
    const candles = chart.addSeries(charts.CandlestickSeries, {
      upColor: "#1a7f4b", downColor: "#b42318", borderVisible: false, wickUpColor: "#1a7f4b", wickDownColor: "#b42318",
    });
    page.charts.price = { chart, candles, markers: charts.createSeriesMarkers(candles, []) };
  }
  const price = page.charts.price;
  price.candles.setData(page.bars.map((bar) => ({ time: bar.date, open: bar.open, high: bar.high, low: bar.low, close: bar.close })));
  price.markers.setMarkers([]);
  price.chart.timeScale().fitContent();
  $("price-title").textContent = `${page.result.symbol}: ${page.bars.length.toLocaleString()} daily bars`;
}

function drawTrades(trades) {
  const markers = [];
  for (const trade of trades) {
    markers.push({ time: trade.entry_date, position: "belowBar", color: "#1a7f4b", shape: "arrowUp" });
    if (trade.exit_date) markers.push({ time: trade.exit_date, position: "aboveBar", color: "#b42318", shape: "arrowDown" });
  }
  markers.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  page.charts.price.markers.setMarkers(markers);
  const container = $("price-chart");
  container.dataset.trades = String(trades.length);
  container.setAttribute("aria-label", `Candlestick chart of ${page.result.symbol} with ${trades.length} trades marked`);
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
  loadStrategies();
});
