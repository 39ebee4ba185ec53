// The cache page: every cached symbol with its dates and a coverage strip, warm and clear
// buttons, and a form that warms new symbols as a job with a progress bar.
"use strict";

const $ = (id) => document.getElementById(id);

async function loadStats() {
  try {
    const stats = await api("/api/cache/stats");
    const served = stats.since_start;
    const ratio = served.hit_ratio === null ? "–" : `${(served.hit_ratio * 100).toFixed(1)}%`;
    $("totals").textContent = `${stats.total_bars.toLocaleString()} bars in ${stats.symbols.length} symbols, ${stats.bytes_per_bar.toFixed(1)} bytes per bar; ${(stats.bytes_on_disk / 1048576).toFixed(1)} MiB on disk (${stats.database}). Since the server started: ${served.reads.toLocaleString()} reads, ${ratio} of their bars from the cache, ${served.upstream_requests.toLocaleString()} upstream requests.`;
    const axis = sharedAxis(stats.symbols);
    $("coverage-heading").textContent = axis ? `Coverage ${isoDay(axis.start)} → ${isoDay(axis.end - 1)}` : "Coverage";
    const rows = stats.symbols.map((entry) => symbolRow(entry, axis));
    $("symbols-body").replaceChildren(...(rows.length ? rows : [element("tr", {}, element("td", { colspan: "7" }, "Nothing cached yet: add symbols above."))]));
  } catch (error) {
    showError($("error"), error);
  }
}

function symbolRow(entry, axis) {
  const warm = element("button", { type: "button", class: "secondary", "aria-label": `Warm ${entry.symbol}` }, "Warm");
  warm.addEventListener("click", () => warmSymbols([entry.symbol], {}));
  const clear = element("button", { type: "button", class: "danger", "aria-label": `Clear ${entry.symbol}` }, "Clear");
  clear.addEventListener("click", () => confirmClear(entry.symbol));
  const updated = entry.last_update ? new Date(entry.last_update).toLocaleString() : "–";
  const ticker = entry.symbol.split("@")[0];
  const open = element("button", { type: "button", class: "link", "aria-expanded": "false", "aria-controls": `details-${ticker}`, title: "Show the ledger, days without bars and corporate actions" }, entry.symbol);
  const row = element("tr", { "data-symbol": entry.symbol },
    element("th", { scope: "row" }, open),
    element("td", {}, entry.bars.toLocaleString()),
    element("td", {}, entry.first_date || "–"),
    element("td", {}, entry.last_date || "–"),
    element("td", {}, updated),
    element("td", { class: "coverage" }, coverageStrip(entry.covered, entry.provisional || [], entry.first_date, axis)),
    element("td", { class: "actions" }, warm, clear));
  open.addEventListener("click", () => toggleDetails(row, open, ticker, entry));
  return row;
}

/** Opens (or closes) a symbol's drill-down under its row: its market, every ledger entry, the
 * covered days without a bar and why, provisional bars and the corporate actions stored. */
async function toggleDetails(row, button, ticker, entry) {
  const shown = row.nextElementSibling && row.nextElementSibling.classList.contains("details") ? row.nextElementSibling : null;
  if (shown) { shown.remove(); button.setAttribute("aria-expanded", "false"); return; }
  showError($("error"), null);
  try {
    const coverage = await api(`/api/cache/coverage/${encodeURIComponent(ticker)}`);
    row.after(element("tr", { class: "details", id: `details-${ticker}` }, element("td", { colspan: "7" }, ...detailsOf(coverage, entry))));
    button.setAttribute("aria-expanded", "true");
  } catch (error) {
    showError($("error"), error);
  }
}

function detailsOf(coverage, entry) {
  const market = coverage.exchange;
  const ledger = element("table", { class: "ledger" },
    element("caption", {}, `Ledger entries (${coverage.spans.length})`),
    element("thead", {}, element("tr", {}, ...["Range", "Provider", "Prices", "Fetched at", "Bars", "Rejected rows"].map((title) => element("th", { scope: "col" }, title)))),
    element("tbody", {}, ...coverage.spans.map((span) => element("tr", {},
      element("td", {}, `${span.range.start} → ${span.range.end}`),
      element("td", {}, span.provider),
      element("td", {}, span.basis),
      element("td", {}, new Date(span.fetched_at).toLocaleString()),
      element("td", {}, span.bars.toLocaleString()),
      element("td", {}, span.rejected_rows.toLocaleString())))));
  const barless = coverage.barless.length
    ? coverage.barless.map((group) => `${group.range.start} → ${group.range.end}: ${group.reason}`).join("; ")
    : "none";
  const actions = coverage.actions.length
    ? coverage.actions.map((action) => `${action.ex_date} ${action.kind === "split" ? `split ${action.ratio}:1` : `dividend ${action.cash}`} (${action.provider})`).join("; ")
    : "none";
  return [
    element("p", {}, `Market ${market.code} (${market.time_zone}, ${market.calendar} calendar). Covered days without a bar: ${coverage.weekend_days} weekend days, ${coverage.holidays} holidays; trading days without a bar: ${barless}. Provisional bars: ${entry.provisional_bars}${(entry.provisional || []).length ? ` (${entry.provisional.map((range) => range.start === range.end ? range.start : `${range.start} → ${range.end}`).join(", ")})` : ""}.`),
    ledger,
    element("p", {}, `Splits and dividends: ${actions}`),
  ];
}

const DAY = 86400000;
const day = (text) => Date.parse(`${text}T00:00:00Z`) / DAY;

const isoDay = (days) => new Date(days * DAY).toISOString().slice(0, 10);

/** One time axis for every symbol: from the earliest covered day to today (or the latest
 * covered day, if later), so strips compare at a glance. */
function sharedAxis(symbols) {
  const withCoverage = symbols.filter((entry) => entry.covered.length);
  if (!withCoverage.length) return null;
  const start = Math.min(...withCoverage.map((entry) => day(entry.covered[0].start)));
  const lastCovered = Math.max(...withCoverage.map((entry) => day(entry.covered[entry.covered.length - 1].end) + 1));
  const today = Math.floor(Date.now() / DAY) + 1;
  return { start, end: Math.max(today, lastCovered) };
}

/**
 * A symbol's coverage on the shared axis: before its first covered day (pale: never asked),
 * covered days before its first bar (lavender: asked, nothing listed yet), covered ranges
 * (green), gaps between them (grey: missing), after its last covered day up to today (amber:
 * not asked since) and, over that, the days whose bars are provisional (blue: stored, asked
 * again once final). Weekends and holidays between ranges are joined by the API.
 */
function coverageStrip(covered, provisional, firstBar, axis) {
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", "0 0 1000 10");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  if (!covered.length || !axis) { svg.setAttribute("aria-label", "no coverage"); return svg; }
  const span = Math.max(1, axis.end - axis.start);
  const rect = (from, to, kind, fill, label) => {
    if (to <= from) return;
    const node = document.createElementNS(svgNs, "rect");
    node.setAttribute("class", kind);
    node.setAttribute("x", ((from - axis.start) / span) * 1000);
    node.setAttribute("width", Math.max(1, ((to - from) / span) * 1000));
    node.setAttribute("y", 0); node.setAttribute("height", 10); node.setAttribute("fill", fill);
    const title = document.createElementNS(svgNs, "title");
    title.textContent = label;
    node.append(title);
    svg.append(node);
  };
  const first = day(covered[0].start);
  const last = day(covered[covered.length - 1].end) + 1;
  rect(axis.start, first, "before", "#eef0f4", `before ${covered[0].start}: never covered`);
  const gaps = [];
  const listed = firstBar ? day(firstBar) : Infinity;
  covered.forEach((range, index) => {
    const [from, to] = [day(range.start), day(range.end) + 1];
    rect(from, Math.min(to, listed), "unlisted", "#cfc6ee", `asked ${range.start} to ${isoDay(Math.min(to, listed) - 1)}: no bars before the first, ${firstBar || "none yet"}`);
    rect(Math.max(from, listed), to, "covered", "#1a7f4b", `covered ${isoDay(Math.max(from, listed))} to ${range.end}`);
    const next = covered[index + 1];
    if (next && day(next.start) > day(range.end) + 1) {
      gaps.push(`${range.end} to ${next.start}`);
      rect(day(range.end) + 1, day(next.start), "missing", "#b8bec9", `missing ${isoDay(day(range.end) + 1)} to ${isoDay(day(next.start) - 1)}`);
    }
  });
  rect(last, axis.end, "stale", "#e8b04a", `not asked after ${covered[covered.length - 1].end}`);
  for (const range of provisional) {
    rect(day(range.start), day(range.end) + 1, "provisional", "#5b7cfa", `provisional ${range.start} to ${range.end}: not final yet, asked again once final`);
  }
  const unsettled = provisional.length ? `, provisional ${provisional[0].start} to ${provisional[provisional.length - 1].end}` : "";
  svg.setAttribute("aria-label", `covered ${covered[0].start} to ${covered[covered.length - 1].end}${gaps.length ? `, ${gaps.length} gaps` : ", no gaps"}${unsettled}`);
  return svg;
}

async function warmSymbols(symbols, range) {
  showError($("error"), null, { symbols: $("symbols") });
  const progress = $("progress");
  $("warm-submit").disabled = true;
  $("status").textContent = `Warming ${symbols.join(", ")}…`;
  try {
    const accepted = await api("/api/cache/warm", { method: "POST", body: { symbols, ...range } });
    progress.hidden = false;
    progress.value = 0;
    const snapshot = await followJob(accepted.job_id, (job) => {
      const { text, fraction } = describeProgress(job);
      progress.value = fraction;
      $("status").textContent = `Warming: ${text} symbols`;
    });
    const result = snapshot.result;
    if (result) {
      const fetched = result.symbols.reduce((sum, entry) => sum + entry.fetched_bars, 0);
      const requests = result.symbols.reduce((sum, entry) => sum + entry.upstream_requests, 0);
      $("status").textContent = `Warmed ${result.ok} of ${result.symbols.length}: ${fetched.toLocaleString()} bars fetched in ${requests} upstream ${requests === 1 ? "request" : "requests"}.`;
    }
    if (snapshot.state !== "succeeded") {
      const failures = result ? result.symbols.filter((entry) => entry.error).map((entry) => `${entry.symbol}: ${entry.error.message}`) : [];
      const detail = snapshot.error || { message: snapshot.state };
      throw new ApiFailure(0, [detail.message, ...failures].join("; "), detail.field);
    }
  } catch (error) {
    showError($("error"), error, { symbols: $("symbols"), start: $("warm-start"), end: $("warm-end") });
  } finally {
    progress.hidden = true;
    $("warm-submit").disabled = false;
    await loadStats();
  }
}

function confirmClear(symbol) {
  const dialog = $("confirm-clear");
  $("confirm-symbol").textContent = symbol;
  dialog.onclose = async () => {
    if (dialog.returnValue !== "clear") return;
    showError($("error"), null);
    $("status").textContent = `Clearing ${symbol}…`;
    try {
      const cleared = await api(`/api/cache?symbol=${encodeURIComponent(symbol)}`, { method: "DELETE" });
      $("status").textContent = `Cleared ${symbol}: ${cleared.bars_deleted.toLocaleString()} bars deleted.`;
    } catch (error) {
      showError($("error"), error);
    }
    await loadStats();
  };
  dialog.returnValue = "";
  dialog.showModal();
}

document.addEventListener("DOMContentLoaded", () => {
  $("warm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const symbols = $("symbols").value.split(/[\s,]+/).filter(Boolean);
    if (!symbols.length) { showError($("error"), new ApiFailure(400, "Name at least one symbol.", "symbols"), { symbols: $("symbols") }); return; }
    const range = {};
    if ($("warm-start").value) range.start = $("warm-start").value;
    if ($("warm-end").value) range.end = $("warm-end").value;
    warmSymbols(symbols, range);
  });
  loadStats();
});
