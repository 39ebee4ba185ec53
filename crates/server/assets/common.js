// Helpers both dashboard pages share: API calls with the JSON error shape, the optional API
// token, following a background job (server-sent events, polling as the fallback), and
// showing errors next to the field they name.
"use strict";

const TOKEN_KEY = "marketcache-api-token";

/** An API error: the server's message and, for bad input, the field at fault. */
class ApiFailure extends Error {
  constructor(status, message, field, code) {
    super(message);
    this.status = status;
    this.field = field || null;
    this.code = code || null;
  }
}

/** Calls the API; resolves with the parsed JSON, rejects with an ApiFailure. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiFailure(0, `The server could not be reached (${error.message}).`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) {
    const detail = json && json.error ? json.error : {};
    throw new ApiFailure(response.status, detail.message || `HTTP ${response.status}`, detail.field, detail.code);
  }
  return json;
}

/**
 * Follows job `id` until it ends; `onProgress(snapshot)` is called on every change. Resolves
 * with the final snapshot. Server-sent events first; if the stream breaks, polls every 400 ms.
 */
function followJob(id, onProgress) {
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (snapshot) => { finished = true; onProgress(snapshot); resolve(snapshot); };
    const poll = async () => {
      while (!finished) {
        try {
          const snapshot = await api(`/api/jobs/${id}`);
          if (snapshot.state !== "running") { finish(snapshot); return; }
          onProgress(snapshot);
        } catch (error) { finished = true; reject(error); return; }
        await new Promise((wake) => setTimeout(wake, 400));
      }
    };
    if (typeof EventSource !== "function") { poll(); return; }
    const events = new EventSource(`/api/jobs/${id}/events`);
    events.addEventListener("progress", (event) => onProgress(JSON.parse(event.data)));
    events.addEventListener("done", (event) => { events.close(); finish(JSON.parse(event.data)); });
    events.onerror = () => { events.close(); if (!finished) poll(); };
  });
}

/** A job's progress as "done / total" and a fraction for a <progress>. */
function describeProgress(snapshot) {
  const { done, total } = snapshot.progress;
  return { text: `${done.toLocaleString()} / ${total.toLocaleString()}`, fraction: total > 0 ? done / total : 0 };
}

/** Shows `error` in `element` and marks the input named by its field. */
function showError(element, error, fieldElements = {}) {
  for (const input of Object.values(fieldElements)) input && input.removeAttribute("aria-invalid");
  if (!error) { element.textContent = ""; return; }
  const field = error.field ? ` (field: ${error.field})` : "";
  element.textContent = `${error.message}${field}`;
  // The most precise input named: `ranges.fast` before `ranges`.
  const root = error.field ? error.field.replace(/\[.*$/, "").split(".")[0] : null;
  const input = (error.field && fieldElements[error.field]) || (root && fieldElements[root]);
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

/** Numbers for tables: fixed decimals, or a dash when undefined. */
function formatNumber(value, digits = 2) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : Number(value).toFixed(digits);
}

function formatPercent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
}

/** Keeps the API token (only needed when the server has one) for this browser tab. */
function wireToken() {
  const input = document.getElementById("token");
  if (!input) return;
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  input.addEventListener("change", () => {
    if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
  });
}

/** An element with attributes and children, for building tables without innerHTML. */
function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

document.addEventListener("DOMContentLoaded", wireToken);
