// The trader's pages: sign up, log in, API keys, balances, a live market page with an order
// form, open orders, order and trade history. Talks to the gateway's /api/v1 (JSON, JWT) and
// /api/v3 (the session's bearer token instead of a key and signature), and to the market
// streams (/stream) and the user's events (/ws/v1 private.events) on the same origin.
"use strict";

const session = {
  get token() { return sessionStorage.getItem("accessToken"); },
  get email() { return sessionStorage.getItem("email"); },
  set(data, email) { sessionStorage.setItem("accessToken", data.accessToken); sessionStorage.setItem("email", email); },
  clear() { sessionStorage.clear(); },
};
let exchangeInfo = null;
// What a page keeps open (sockets, timers), closed when the page changes.
let subscriptions = [];

function closeSubscriptions() { for (const subscription of subscriptions) subscription.close(); subscriptions = []; }

async function symbols() {
  if (!exchangeInfo) exchangeInfo = await api("GET", "/api/v3/exchangeInfo");
  return exchangeInfo.symbols;
}

async function symbolInfo(name) {
  exchangeInfo = null; // status may have changed (a halt)
  return (await symbols()).find((s) => s.symbol === name);
}

function nav() {
  const links = session.token
    ? [["#/markets", "Markets"], ["#/balances", "Balances"], ["#/orders", "Orders"], ["#/keys", "API keys"], ["#/security", "Security"]]
    : [["#/markets", "Markets"], ["#/login", "Log in"], ["#/signup", "Sign up"]];
  const here = "#/" + route().join("/");
  document.getElementById("nav").replaceChildren(...links.map(([href, text]) => el("a", { href, class: here.startsWith(href) ? "active" : "" }, text)));
  const who = document.getElementById("who");
  who.replaceChildren(session.token ? el("span", {}, session.email + " ", el("button", { class: "secondary", id: "logout", onclick: logout }, "Log out")) : "");
}

async function logout() {
  try { await api("POST", "/api/v1/sessions/logout", { token: session.token, json: {} }); } catch { /* the session ends here anyway */ }
  session.clear();
  location.hash = "#/login";
}

function page(title, ...content) {
  document.getElementById("main").replaceChildren(el("h1", {}, title), ...content);
}

// MARK: Accounts

function credentialsForm(id, submitText, onsubmit, withTotp) {
  const form = el("form", { id },
    el("label", {}, "Email", el("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    el("label", {}, "Password", el("input", { name: "password", type: "password", required: true, autocomplete: id === "signup-form" ? "new-password" : "current-password" })),
    withTotp ? el("label", {}, "Authenticator code (if enabled)", el("input", { name: "totp", inputmode: "numeric", autocomplete: "one-time-code" })) : "",
    el("button", { type: "submit" }, submitText), el("div", { class: "error" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, null);
    try { await onsubmit(new FormData(form)); } catch (error) { showError(form, error); }
  });
  return form;
}

function signupPage() {
  page("Sign up", credentialsForm("signup-form", "Create account", async (data) => {
    await api("POST", "/api/v1/users", { json: { email: data.get("email"), password: data.get("password") } });
    const tokens = await api("POST", "/api/v1/sessions", { json: { email: data.get("email"), password: data.get("password") } });
    session.set(tokens, data.get("email"));
    location.hash = "#/keys";
  }), el("p", { class: "muted" }, "Passwords need at least 10 characters."));
}

function loginPage() {
  page("Log in", credentialsForm("login-form", "Log in", async (data) => {
    const body = { email: data.get("email"), password: data.get("password") };
    if (data.get("totp")) body.totp = data.get("totp");
    session.set(await api("POST", "/api/v1/sessions", { json: body }), data.get("email"));
    location.hash = "#/markets";
  }, true));
}

async function keysPage() {
  const list = el("div", { id: "key-list" });
  const created = el("div", { id: "key-created" });
  const form = el("form", { id: "key-form" },
    el("label", {}, "Label", el("input", { name: "label", maxlength: 64 })),
    el("div", { class: "row" }, ["read", "trade", "withdraw"].map((p) =>
      el("label", { class: "row" }, el("input", { type: "checkbox", name: "perm", value: p, checked: p !== "withdraw" }), p))),
    el("label", {}, "IP whitelist (comma-separated, empty: any)", el("input", { name: "ips" })),
    el("button", { type: "submit" }, "Create key"), el("div", { class: "error" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, null);
    const data = new FormData(form);
    const ips = String(data.get("ips") || "").split(",").map((s) => s.trim()).filter(Boolean);
    try {
      const key = await api("POST", "/api/v1/me/api-keys", { token: session.token, json: { label: data.get("label") || "web", permissions: data.getAll("perm"), ipWhitelist: ips } });
      created.replaceChildren(el("div", { class: "panel" }, el("p", {}, "Copy the secret now: it is shown once."),
        el("div", {}, "API key: ", el("span", { class: "secret", id: "new-api-key" }, key.apiKey)),
        el("div", {}, "Secret: ", el("span", { class: "secret", id: "new-api-secret" }, key.secretKey))));
      await refresh();
    } catch (error) { showError(form, error); }
  });
  async function refresh() {
    const keys = await api("GET", "/api/v1/me/api-keys", { token: session.token });
    list.replaceChildren(table(["Key", "Label", "Permissions", "IP whitelist", "Enabled", ""], keys.map((k) => [
      k.apiKey.slice(0, 12) + "…", k.label, k.permissions.join(", "), (k.ipWhitelist || []).join(", ") || "any", k.enabled ? "yes" : "no",
      el("button", { class: "secondary", onclick: async () => { await api("DELETE", "/api/v1/me/api-keys/" + k.apiKey, { token: session.token }); await refresh(); } }, "Delete"),
    ]), { id: "keys-table" }));
  }
  page("API keys", el("div", { class: "panel" }, form), created, el("div", { class: "panel" }, list));
  await refresh();
}

async function securityPage() {
  const out = el("div", { id: "totp-setup" });
  const start = el("button", { id: "totp-begin", onclick: async () => {
    try {
      const setup = await api("POST", "/api/v1/me/totp", { token: session.token });
      const form = el("form", { id: "totp-confirm" }, el("p", {}, "Add this secret to your authenticator app, then enter its code."),
        el("div", { class: "secret" }, setup.secret), el("label", {}, "Code", el("input", { name: "code", inputmode: "numeric" })),
        el("button", { type: "submit" }, "Enable"), el("div", { class: "error" }));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try { await api("POST", "/api/v1/me/totp/confirm", { token: session.token, json: { code: new FormData(form).get("code") } }); out.replaceChildren(el("p", { class: "ok" }, "Second factor enabled.")); }
        catch (error) { showError(form, error); }
      });
      out.replaceChildren(form);
    } catch (error) { out.replaceChildren(el("p", { class: "error" }, error.message)); }
  } }, "Set up an authenticator app");
  const history = await api("GET", "/api/v1/me/logins", { token: session.token });
  page("Security", el("div", { class: "panel" }, start, out),
    el("h2", {}, "Recent logins"), el("div", { class: "panel" }, table(["Time", "IP", "Agent", "Result"], history.map((r) => [formatTime(r.time), r.ip, r.userAgent.slice(0, 40), r.success ? "ok" : r.reason]))));
}

async function balancesPage() {
  const account = await api("GET", "/api/v3/account", { token: session.token });
  page("Balances", el("div", { class: "panel" }, table(["Asset", "Free", "Locked"],
    account.balances.map((b) => [b.asset, b.free, b.locked]), { id: "balances-table" })));
}

// MARK: Orders

function ordersTable(orders, withCancel, refresh) {
  return table(["Time", "Symbol", "Side", "Type", "Price", "Qty", "Filled", "Status", ""], orders.map((o) => [
    formatTime(o.time), o.symbol, el("td", { class: o.side === "BUY" ? "bid" : "ask" }, o.side), o.type + (o.timeInForce ? " " + o.timeInForce : ""),
    o.price, o.origQty, o.executedQty, o.status,
    withCancel ? el("button", { class: "secondary", "data-cancel": o.orderId, onclick: async () => {
      await api("DELETE", "/api/v3/order", { token: session.token, query: { symbol: o.symbol, orderId: o.orderId } });
      await refresh();
    } }, "Cancel") : "",
  ]), { class: withCancel ? "open-orders" : "order-history" });
}

async function ordersPage() {
  const all = [];
  for (const s of await symbols()) all.push(...await api("GET", "/api/v3/allOrders", { token: session.token, query: { symbol: s.symbol, limit: 100 } }));
  const trades = [];
  for (const s of await symbols()) trades.push(...await api("GET", "/api/v3/myTrades", { token: session.token, query: { symbol: s.symbol, limit: 100 } }));
  const open = await api("GET", "/api/v3/openOrders", { token: session.token });
  page("Orders", el("h2", {}, "Open orders"), el("div", { class: "panel" }, ordersTable(open, true, ordersPage)),
    el("h2", {}, "Order history"), el("div", { class: "panel" }, ordersTable(all.sort((a, b) => b.time - a.time), false)),
    el("h2", {}, "Trade history"), el("div", { class: "panel" }, table(["Time", "Symbol", "Side", "Price", "Qty", "Fee"], trades.sort((a, b) => b.time - a.time).map((t) => [
      formatTime(t.time), t.symbol, t.isBuyer ? "BUY" : "SELL", t.price, t.qty, t.commission + " " + t.commissionAsset]), { id: "trade-history" })));
}

// MARK: Markets

async function marketsPage() {
  const list = await symbols();
  page("Markets", el("div", { class: "panel" }, table(["Symbol", "Status", "Base", "Quote"], list.map((s) => [
    el("a", { href: "#/market/" + s.symbol }, s.symbol), s.status, s.baseAsset, s.quoteAsset]), { id: "markets-table" })));
}

/** Checks an order against the symbol's filters before it is sent; returns the problem or null. */
function orderProblem(info, type, price, quantity) {
  const filter = (name) => info.filters.find((f) => f.filterType === name);
  const priceFilter = filter("PRICE_FILTER"), lot = filter(type === "MARKET" ? "MARKET_LOT_SIZE" : "LOT_SIZE") || filter("LOT_SIZE");
  const notional = filter("NOTIONAL") || filter("MIN_NOTIONAL");
  const qScale = Math.max(decimals(lot.stepSize), decimals(quantity));
  const q = units(quantity, qScale), step = units(lot.stepSize, qScale);
  if (q === null || q <= 0n) return "Quantity must be a positive decimal.";
  if (q % step !== 0n) return `Quantity must be a multiple of ${lot.stepSize}.`;
  if (q < units(lot.minQty, qScale)) return `Quantity must be at least ${lot.minQty}.`;
  if (Number(lot.maxQty) > 0 && q > units(lot.maxQty, qScale)) return `Quantity must be at most ${lot.maxQty}.`;
  if (type === "MARKET") return null;
  const pScale = Math.max(decimals(priceFilter.tickSize), decimals(price));
  const p = units(price, pScale), tick = units(priceFilter.tickSize, pScale);
  if (p === null || p <= 0n) return "Price must be a positive decimal.";
  if (p % tick !== 0n) return `Price must be a multiple of ${priceFilter.tickSize}.`;
  if (notional) {
    const minimum = units(notional.minNotional, pScale + qScale);
    if (minimum !== null && p * q < minimum) return `Order value must be at least ${notional.minNotional}.`;
  }
  return null;
}

async function marketPage(symbol) {
  const info = await symbolInfo(symbol);
  if (!info) return page("Unknown market", el("p", {}, symbol + " is not listed."));
  const status = el("div", { id: "market-status", class: info.status === "TRADING" ? "" : "banner" }, info.status === "TRADING" ? "" : `Trading is halted on ${symbol} (${info.status}).`);
  const ticker = el("div", { id: "ticker", class: "row" }, "…");
  const bids = el("div", { id: "bids" }), asks = el("div", { id: "asks" }), trades = el("div", { id: "trades" });
  const chart = el("canvas", { id: "chart", width: 900, height: 240 });
  const open = el("div", { id: "open-orders" }), fills = el("div", { id: "fills" });
  const form = el("form", { id: "order-form" },
    el("div", { class: "row" }, el("select", { name: "side" }, el("option", { value: "BUY" }, "Buy"), el("option", { value: "SELL" }, "Sell")),
      el("select", { name: "type" }, el("option", { value: "LIMIT" }, "Limit"), el("option", { value: "MARKET" }, "Market"), el("option", { value: "LIMIT_MAKER" }, "Post-only")),
      el("select", { name: "timeInForce" }, el("option", { value: "GTC" }, "GTC"), el("option", { value: "IOC" }, "IOC"), el("option", { value: "FOK" }, "FOK"))),
    el("label", {}, "Price", el("input", { name: "price", inputmode: "decimal" })),
    el("label", {}, "Quantity", el("input", { name: "quantity", inputmode: "decimal" })),
    el("button", { type: "submit" }, "Place order"), el("div", { class: "error" }), el("div", { class: "ok", id: "order-result" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, null);
    const data = new FormData(form);
    const type = data.get("type");
    const problem = orderProblem(info, type, data.get("price"), data.get("quantity"));
    if (problem) return showError(form, new Error(problem));
    const order = { symbol, side: data.get("side"), type, quantity: data.get("quantity"), newOrderRespType: "RESULT" };
    if (type !== "MARKET") order.price = data.get("price");
    if (type === "LIMIT") order.timeInForce = data.get("timeInForce");
    try {
      const result = await api("POST", "/api/v3/order", { token: session.token, form: order });
      form.querySelector("#order-result").textContent = `Order ${result.orderId}: ${result.status}`;
      await refreshMine();
    } catch (error) { showError(form, error); }
  });
  page(symbol, status, el("div", { class: "panel" }, ticker),
    el("div", { class: "grid" },
      el("div", { class: "panel" }, el("h2", {}, "Book"), asks, bids),
      el("div", { class: "panel" }, el("h2", {}, "Trades"), trades),
      session.token ? el("div", { class: "panel" }, el("h2", {}, "Order"), form) : el("div", { class: "panel" }, el("a", { href: "#/login" }, "Log in to trade"))),
    el("div", { class: "panel" }, el("h2", {}, "Candles (1m)"), chart),
    session.token ? el("div", { class: "panel" }, el("h2", {}, "Open orders"), open, el("h2", {}, "My fills"), fills) : "");

  const book = (levels, side) => table(["Price", "Qty"], levels.map(([p, q]) => [el("td", { class: side }, p), q]), { class: side + "-table" });
  const shownTrades = [];
  const candles = new Map();
  const drawTrades = () => trades.replaceChildren(table(["Time", "Price", "Qty"], shownTrades.map((t) => [formatTime(t.T).slice(11), el("td", { class: t.m ? "ask" : "bid" }, t.p), t.q]), { id: "trades-table" }));
  for (const t of (await api("GET", "/api/v3/trades", { query: { symbol, limit: 30 } })).reverse()) shownTrades.push({ T: t.time, p: t.price, q: t.qty, m: t.isBuyerMaker });
  drawTrades();
  for (const k of await api("GET", "/api/v3/klines", { query: { symbol, interval: "1m", limit: 60 } })) candles.set(k[0], k.slice(0, 5).map(Number));
  drawCandles(chart, candles);
  const depth = await api("GET", "/api/v3/depth", { query: { symbol, limit: 10 } });
  asks.replaceChildren(book(depth.asks.slice().reverse(), "ask")); bids.replaceChildren(book(depth.bids, "bid"));

  // The status as the exchange says it (a halt shows without a reload).
  const showStatus = (current) => {
    status.className = current === "TRADING" ? "" : "banner";
    status.textContent = current === "TRADING" ? "" : `Trading is halted on ${symbol} (${current}).`;
  };
  const statusTimer = setInterval(async () => {
    try { showStatus((await api("GET", "/api/v3/exchangeInfo", { query: { symbol } })).symbols[0].status); } catch { /* next time */ }
  }, 2000);
  subscriptions.push({ close: () => clearInterval(statusTimer) });

  const lower = symbol.toLowerCase();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const market = new WebSocket(`${scheme}${location.host}/stream?streams=${lower}@depth10@100ms/${lower}@trade/${lower}@ticker/${lower}@kline_1m`);
  market.onmessage = (message) => {
    const { stream, data } = JSON.parse(message.data);
    if (stream.endsWith("@depth10@100ms")) { asks.replaceChildren(book(data.asks.slice().reverse(), "ask")); bids.replaceChildren(book(data.bids, "bid")); }
    else if (stream.endsWith("@trade")) { shownTrades.unshift(data); shownTrades.length = Math.min(shownTrades.length, 30); drawTrades(); }
    else if (stream.endsWith("@ticker")) ticker.replaceChildren(el("b", { id: "last-price" }, data.c), el("span", {}, ` ${data.P}%`), el("span", { class: "muted" }, ` high ${data.h} low ${data.l} vol ${data.v}`));
    else if (stream.includes("@kline_")) { candles.set(data.k.t, [data.k.t, +data.k.o, +data.k.h, +data.k.l, +data.k.c]); drawCandles(chart, candles); }
  };
  subscriptions.push(market);

  async function refreshMine() {
    if (!session.token) return;
    const mine = await api("GET", "/api/v3/openOrders", { token: session.token, query: { symbol } });
    open.replaceChildren(ordersTable(mine, true, refreshMine));
    const myTrades = await api("GET", "/api/v3/myTrades", { token: session.token, query: { symbol, limit: 50 } });
    fills.replaceChildren(table(["Time", "Side", "Price", "Qty"], myTrades.reverse().map((t) => [formatTime(t.time), t.isBuyer ? "BUY" : "SELL", t.price, t.qty]), { id: "fills-table" }));
  }
  if (session.token) {
    await refreshMine();
    const events = new WebSocket(`${scheme}${location.host}/ws/v1`);
    events.onopen = () => events.send(JSON.stringify({ op: "subscribe", id: 1, channels: ["private.events"], token: session.token }));
    events.onmessage = (message) => { const frame = JSON.parse(message.data); if (frame.channel === "private.events") refreshMine(); };
    subscriptions.push(events);
  }
}

/** Candlesticks of `candles` (open time -> [t, o, h, l, c]) on `canvas`. */
function drawCandles(canvas, candles) {
  const context = canvas.getContext("2d");
  const rows = [...candles.values()].sort((a, b) => a[0] - b[0]).slice(-60);
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!rows.length) return;
  const high = Math.max(...rows.map((r) => r[2])), low = Math.min(...rows.map((r) => r[3]));
  const y = (v) => high === low ? canvas.height / 2 : 10 + (high - v) / (high - low) * (canvas.height - 20);
  const width = canvas.width / 60;
  rows.forEach(([, o, h, l, c], i) => {
    const x = i * width + width / 2;
    context.strokeStyle = context.fillStyle = c >= o ? "#2ebd85" : "#f6465d";
    context.beginPath(); context.moveTo(x, y(h)); context.lineTo(x, y(l)); context.stroke();
    context.fillRect(x - width * 0.35, Math.min(y(o), y(c)), width * 0.7, Math.max(1, Math.abs(y(o) - y(c))));
  });
}

async function render() {
  closeSubscriptions();
  nav();
  const [name, argument] = route();
  const needsSession = ["balances", "orders", "keys", "security"];
  if (needsSession.includes(name) && !session.token) { location.hash = "#/login"; return; }
  try {
    switch (name) {
      case "signup": return signupPage();
      case "login": return loginPage();
      case "keys": return await keysPage();
      case "security": return await securityPage();
      case "balances": return await balancesPage();
      case "orders": return await ordersPage();
      case "market": return await marketPage(argument);
      default: return await marketsPage();
    }
  } catch (error) {
    if (error.status === 401) { session.clear(); location.hash = "#/login"; return; }
    page("Something went wrong", el("p", { class: "error" }, error.message));
  }
}

// One render at a time, in order: a page still loading never paints over the one asked for after it.
let rendering = Promise.resolve();
function scheduleRender() {
  rendering = rendering.then(render, render);
  return rendering;
}

window.addEventListener("hashchange", scheduleRender);
scheduleRender();
