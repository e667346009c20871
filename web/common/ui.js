// Shared helpers of the OpenExchange pages: DOM building, the JSON API, exact decimals.
"use strict";

/** Builds an element: el("td", {class: "bid"}, "1.5"). */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

/** A table from rows of cells (strings or nodes). */
function table(headers, rows, attributes) {
  return el("table", attributes || {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD") ? c : el("td", {}, c))))));
}

/** An API error with the server's code and message. */
class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** JSON.parse, with integers too large for a double (order ids: 64-bit snowflakes) kept exact as strings. */
function parseJSON(text) {
  let out = "", inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true; out += c;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      let j = i;
      while (j < text.length && /[-+0-9.eE]/.test(text[j])) j++;
      const number = text.slice(i, j);
      out += /^-?\d{16,}$/.test(number) ? '"' + number + '"' : number;
      i = j - 1;
    } else out += c;
  }
  return JSON.parse(out);
}

/** Calls the API; JSON bodies for /api/v1, form bodies (Binance style) when `form` is given. */
async function api(method, path, { token, json, form, query } = {}) {
  const headers = {};
  let body;
  if (token) headers.Authorization = "Bearer " + token;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) { headers["Content-Type"] = "application/x-www-form-urlencoded"; body = new URLSearchParams(form).toString(); }
  const url = query ? path + "?" + new URLSearchParams(query).toString() : path;
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  let data = null;
  try { data = text ? parseJSON(text) : null; } catch { data = text; }
  if (!response.ok) {
    const message = data && data.msg ? data.msg : `HTTP ${response.status}`;
    throw new APIError(response.status, data && data.code, message);
  }
  return data;
}

/** Shows `error` (or clears) in the form's .error line. */
function showError(form, error) {
  const line = form.querySelector(".error");
  if (line) line.textContent = error ? (error.message || String(error)) : "";
}

/** Exact decimals: "1.05" at scale 2 -> 105n; null if not a decimal or finer than the scale. */
function units(text, scale) {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(String(text).trim());
  if (!match) return null;
  const fraction = (match[2] || "").replace(/0+$/, "");
  if (fraction.length > scale) return null;
  return BigInt(match[1]) * 10n ** BigInt(scale) + BigInt((fraction + "0".repeat(scale)).slice(0, scale) || "0");
}

/** The number of fraction digits a decimal string needs ("0.0100" -> 2). */
function decimals(text) {
  const fraction = (String(text).split(".")[1] || "").replace(/0+$/, "");
  return fraction.length;
}

function formatTime(ms) { return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19); }

/** The hash route: "#/market/BTCUSDT" -> ["market", "BTCUSDT"]. */
function route() { return location.hash.replace(/^#\/?/, "").split("/").filter(Boolean); }
