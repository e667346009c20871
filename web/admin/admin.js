// The staff pages: pairs, halts and the kill switch, users, the audit log, the cluster view
// and staff accounts. Each page is shown only to roles whose actions it needs (the list comes
// from GET /api/v1/admin/me); the API enforces the same policy on every call.
"use strict";

const staff = {
  get token() { return sessionStorage.getItem("staffToken"); },
  me: null,
  clear() { sessionStorage.clear(); this.me = null; },
};
const base = "/api/v1/admin/";
const call = (method, path, options = {}) => api(method, base + path, { token: staff.token, ...options });
const can = (action) => staff.me && staff.me.allowedActions.includes(action);

const pages = [
  ["pairs", "Pairs", "listPairs"], ["halts", "Kill switch", "listHalts"], ["users", "Users", "searchUsers"],
  ["audit", "Audit log", "searchAuditLog"], ["cluster", "Cluster", "viewCluster"], ["staff", "Staff", "listStaff"],
];

function nav() {
  const here = route()[0];
  document.getElementById("nav").replaceChildren(...(staff.me ? pages.filter(([, , action]) => can(action)) : [])
    .map(([name, text]) => el("a", { href: "#/" + name, class: here === name ? "active" : "", id: "nav-" + name }, text)));
  document.getElementById("who").replaceChildren(staff.me
    ? el("span", {}, `${staff.me.email} (${staff.me.role}) `, el("button", { class: "secondary", id: "logout", onclick: async () => {
      try { await call("POST", "sessions/logout", { json: {} }); } catch { /* ends here anyway */ }
      staff.clear(); location.hash = "#/login"; scheduleRender();
    } }, "Log out"))
    : "");
}

function page(title, ...content) { document.getElementById("main").replaceChildren(el("h1", {}, title), ...content); }

/** A form whose submit runs `action(FormData)` and shows its error; `done` after success. */
function form(id, fields, submitText, action) {
  const node = el("form", { id }, ...fields, el("button", { type: "submit" }, submitText), el("div", { class: "error" }), el("div", { class: "ok" }));
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(node, null);
    node.querySelector(".ok").textContent = "";
    try { const message = await action(new FormData(node)); node.querySelector(".ok").textContent = message || "Done."; }
    catch (error) { showError(node, error); }
  });
  return node;
}
const input = (label, name, attributes = {}) => el("label", {}, label, el("input", { name, ...attributes }));
const select = (label, name, options) => el("label", {}, label, el("select", { name }, options.map((o) => el("option", { value: o }, o))));

function loginPage() {
  page("Staff log in", form("staff-login", [input("Email", "email", { type: "email", required: true }), input("Password", "password", { type: "password", required: true }),
    input("Authenticator code (if enabled)", "totp", { inputmode: "numeric" })], "Log in", async (data) => {
    const body = { email: data.get("email"), password: data.get("password") };
    if (data.get("totp")) body.totp = data.get("totp");
    const session = await api("POST", base + "sessions", { json: body });
    sessionStorage.setItem("staffToken", session.accessToken);
    location.hash = "#/" + (pages.find(([, , action]) => (session.staff.role === "Support" ? action === "searchUsers" : true)) || pages[0])[0];
  }));
}

async function pairsPage() {
  const pairs = await call("GET", "pairs");
  const rows = pairs.map((p) => [p.symbol, el("td", { class: "pair-status" }, p.status + (p.halted ? ` (halted: ${p.haltedBy.join(", ")})` : "")), `${p.baseAsset}/${p.quoteAsset}`,
    p.tickSize, p.stepSize, `${p.minQtyLots}…${p.maxQtyLots}`, p.minNotional, `${p.makerFeeBps}/${p.takerFeeBps}`, p.shard,
    can("setPairStatus") ? el("span", { class: "row" }, ["TRADING", "HALT", "BREAK"].filter((s) => s !== p.status).map((s) =>
      el("button", { class: "secondary", "data-status": `${p.symbol}:${s}`, onclick: async () => { await call("PUT", `pairs/${p.symbol}/status`, { json: { status: s } }); scheduleRender(); } }, s))) : ""]);
  const add = can("addPair") ? form("pair-form", [input("Symbol", "symbol", { required: true }), input("Base asset", "baseAsset"), input("Base scale (new asset)", "baseScale"),
    input("Quote asset", "quoteAsset"), input("Quote scale (new asset)", "quoteScale"), input("Tick size", "tickSize"), input("Step size", "stepSize"),
    input("Min quantity", "minQty"), input("Max quantity", "maxQty"), input("Min notional", "minNotional"), input("Maker fee (bps)", "makerFeeBps"), input("Taker fee (bps)", "takerFeeBps")],
  "List pair", async (data) => {
    const body = {};
    for (const [name, value] of data.entries()) if (value !== "") body[name] = /Scale$|Bps$/.test(name) && /^-?\d+$/.test(value) ? Number(value) : value;
    await call("POST", "pairs", { json: body });
    setTimeout(scheduleRender, 300);
    return `Listed ${body.symbol}.`;
  }) : "";
  const change = can("changePair") ? form("change-form", [select("Symbol", "symbol", pairs.map((p) => p.symbol)), input("Maker fee (bps)", "makerFeeBps"),
    input("Taker fee (bps)", "takerFeeBps"), input("Min quantity", "minQty"), input("Max quantity", "maxQty"), input("Min notional", "minNotional")],
  "Change (empty fields stay)", async (data) => {
    const body = {};
    for (const [name, value] of data.entries()) if (name !== "symbol" && value !== "") body[name] = /Bps$/.test(name) && /^\d+$/.test(value) ? Number(value) : value;
    await call("PUT", `pairs/${data.get("symbol")}`, { json: body });
    setTimeout(scheduleRender, 300);
  }) : "";
  page("Trading pairs", el("div", { class: "panel" }, table(["Symbol", "Status", "Pair", "Tick", "Step", "Qty (lots)", "Min notional", "Fees (bps)", "Shard", ""], rows, { id: "pairs-table" })),
    el("div", { class: "grid" }, add ? el("div", { class: "panel" }, el("h2", {}, "List a pair"), add) : "", change ? el("div", { class: "panel" }, el("h2", {}, "Change a pair"), change) : ""));
}

async function haltsPage() {
  const halts = await call("GET", "halts");
  const scopeFields = [select("Scope", "scope", ["symbol", "shard", "exchange"]), input("Symbol (scope symbol)", "symbol"), input("Shard (scope shard)", "shard"),
    el("label", { class: "row" }, el("input", { type: "checkbox", name: "cancelResting" }), "Cancel resting orders"), input("Reason", "reason")];
  const body = (data) => {
    const result = { scope: data.get("scope") };
    if (result.scope === "symbol") result.symbol = data.get("symbol");
    if (result.scope === "shard") result.shard = /^\d+$/.test(data.get("shard")) ? Number(data.get("shard")) : data.get("shard");
    return result;
  };
  const halt = can("haltMarkets") ? form("halt-form", scopeFields, "HALT", async (data) => {
    const result = await call("POST", "halts", { json: { ...body(data), cancelResting: data.get("cancelResting") === "on", reason: data.get("reason") || "" } });
    setTimeout(scheduleRender, 300);
    return `Halted ${result.symbols.join(", ") || "nothing listed yet"}` + (result.cancelRequested !== undefined ? `; ${result.cancelRequested} resting orders cancelled` : "");
  }) : "";
  page("Kill switch", el("div", { class: "panel" }, table(["Scope", "By", "Since", "Cancel resting", "Reason", ""], halts.map((h) => [h.scope, h.by, formatTime(h.since), h.cancelResting ? "yes" : "no", h.reason,
    can("resumeMarkets") ? el("button", { class: "secondary", "data-resume": h.scope, onclick: async () => {
      const [scope, value] = h.scope.split(":");
      const json = { scope };
      if (scope === "symbol") json.symbol = value;
      if (scope === "shard") json.shard = Number(value);
      await call("POST", "halts/resume", { json }); scheduleRender();
    } }, "Resume") : ""]), { id: "halts-table" })), halt ? el("div", { class: "panel" }, el("h2", {}, "Halt"), halt) : "");
}

async function usersPage(id) {
  if (id) return userPage(id);
  const results = el("div", { id: "user-results" });
  const search = form("user-search", [input("Email or user id", "q")], "Search", async (data) => {
    const users = await call("GET", "users", { query: { q: data.get("q") || "" } });
    results.replaceChildren(table(["User", "Email", "Created", "Locked", "2FA"], users.map((u) => [el("a", { href: `#/users/${u.userId}` }, String(u.userId)), u.email,
      formatTime(u.createdAt), u.locked ? "locked" : "", u.secondFactor ? "on" : ""]), { id: "users-table" }));
    return `${users.length} found.`;
  });
  page("Users", el("div", { class: "panel" }, search), results);
}

async function userPage(id) {
  const user = await call("GET", `users/${id}`);
  const action = (name, text, path) => can(name) ? el("button", { class: "secondary", id: "user-" + name, onclick: async () => { await call("POST", `users/${id}/${path}`, { json: {} }); scheduleRender(); } }, text) : "";
  const section = async (name, title, path, headers, row) => {
    if (!can(name)) return "";
    const rows = await call("GET", `users/${id}/${path}`);
    return el("div", { class: "panel" }, el("h2", {}, title), table(headers, rows.map(row)));
  };
  page(`User ${user.userId}`, el("div", { class: "panel", id: "user-detail" }, el("p", {}, `${user.email} — ${user.locked ? "LOCKED" : "active"}, second factor ${user.secondFactor ? "on" : "off"}`),
    el("div", { class: "row" }, user.locked ? action("unlockUser", "Unlock", "unlock") : action("lockUser", "Lock", "lock"), action("forceLogout", "Force logout", "logout"),
      user.secondFactor ? action("resetSecondFactor", "Reset second factor", "reset-second-factor") : "")),
  el("div", { class: "panel" }, el("h2", {}, "API keys"), table(["Key", "Label", "Permissions", "Enabled", ""], user.apiKeys.map((k) => [k.apiKey.slice(0, 12) + "…", k.label, k.permissions.join(", "),
    k.enabled ? "yes" : "no", k.enabled && can("disableAPIKey") ? el("button", { class: "secondary", onclick: async () => { await call("POST", `users/${id}/api-keys/${k.apiKey}/disable`, { json: {} }); scheduleRender(); } }, "Disable") : ""]))),
  await section("viewUserBalances", "Balances (units)", "balances", ["Asset", "Available", "Frozen"], (b) => [b.asset, b.availableUnits, b.frozenUnits]),
  await section("viewUserOrders", "Orders", "orders", ["Order", "Symbol", "Side", "Type", "Price (ticks)", "Qty (lots)", "Status"], (o) => [o.orderId, o.symbol, o.side, o.type, o.priceTicks, o.quantityLots, o.status]),
  await section("viewLoginHistory", "Logins", "logins", ["Time", "IP", "Result"], (r) => [formatTime(r.time), r.ip, r.success ? "ok" : r.reason]));
}

async function auditPage() {
  const results = el("div", { id: "audit-results" });
  const fields = [input("Actor", "actor"), input("Action", "action"), input("Target", "target")];
  const query = (data) => Object.fromEntries([...data.entries()].filter(([, v]) => v !== ""));
  const search = form("audit-search", fields, "Search", async (data) => {
    const records = await call("GET", "audit", { query: query(data) });
    results.replaceChildren(table(["Id", "Time", "Actor", "Action", "Target", "IP", "After"], records.map((r) => [r.id, formatTime(r.time), `${r.actorKind}:${r.actor}`, r.action, r.target, r.ip, r.after.slice(0, 80)]), { id: "audit-table" }));
    return `${records.length} records.`;
  });
  const exportButton = can("exportAuditLog") ? el("button", { class: "secondary", id: "audit-export", onclick: async () => {
    const response = await fetch(base + "audit.csv?" + new URLSearchParams(query(new FormData(search))), { headers: { Authorization: "Bearer " + staff.token } });
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "audit-log.csv" });
    document.body.append(link); link.click(); link.remove();
  } }, "Export CSV") : "";
  const verify = el("button", { class: "secondary", id: "audit-verify", onclick: async () => { const verdict = await call("GET", "audit/verify"); verify.textContent = verdict.intact ? `Chain intact (${verdict.rows} records)` : `Chain BROKEN at ${verdict.brokenAt}: ${verdict.reason}`; } }, "Verify chain");
  page("Audit log", el("div", { class: "panel" }, search, el("div", { class: "row" }, exportButton, verify)), results);
  search.requestSubmit();
}

async function clusterPage() {
  const status = await call("GET", "cluster");
  page("Cluster", el("p", { class: "muted" }, `Cluster map version ${status.mapVersion}. Each failover moves a log's epoch on.`),
    ...status.logs.map((log) => el("div", { class: "panel" }, el("h2", {}, `${log.kind} ${log.id}: epoch ${log.epoch}, lease ${log.leaseHolder || "none"}, input ${log.input}, watermark ${log.watermark}`),
      table(["Replica", "Role", "Epoch", "Applied", "Lag", "Last snapshot"], log.replicas.map((r) => [r.name, r.role, r.epoch, r.applied, r.lag, r.lastSnapshot])))));
}

async function staffPage() {
  const members = await call("GET", "staff");
  const roles = ["SuperAdmin", "Operator", "Support", "Auditor"];
  const create = can("createStaff") ? form("staff-form", [input("Email", "email", { type: "email" }), input("Password", "password", { type: "password" }), select("Role", "role", roles)],
    "Create", async (data) => { await call("POST", "staff", { json: Object.fromEntries(data.entries()) }); setTimeout(scheduleRender, 300); }) : "";
  page("Staff", el("div", { class: "panel" }, table(["Id", "Email", "Role", "2FA", "Disabled", ""], members.map((m) => [m.staffId, m.email, m.role, m.secondFactor ? "on" : "", m.disabled ? "yes" : "",
    can("disableStaff") && m.staffId !== staff.me.staffId ? el("button", { class: "secondary", onclick: async () => { await call("PUT", `staff/${m.staffId}/disabled`, { json: { disabled: !m.disabled } }); scheduleRender(); } }, m.disabled ? "Enable" : "Disable") : ""]), { id: "staff-table" })),
  create ? el("div", { class: "panel" }, el("h2", {}, "New staff account"), create) : "",
  el("div", { class: "panel" }, el("h2", {}, "Your second factor"), el("button", { id: "staff-totp", onclick: async (event) => {
    const setup = await call("POST", "me/second-factor");
    event.target.replaceWith(form("staff-totp-confirm", [el("div", { class: "secret" }, setup.secret), input("Code", "code")], "Enable", async (data) => {
      await call("POST", "me/second-factor/confirm", { json: { code: data.get("code") } });
      return "Second factor enabled.";
    }));
  } }, "Set up an authenticator app")));
}

async function render() {
  const [name, argument] = route();
  if (!staff.token) { staff.me = null; nav(); return loginPage(); }
  try {
    staff.me = await call("GET", "me");
    nav();
    const pageEntry = pages.find(([page]) => page === name);
    if (!pageEntry) { location.hash = "#/" + (pages.find(([, , action]) => can(action)) || pages[0])[0]; return; }
    if (!can(pageEntry[2])) return page("Not allowed", el("p", { class: "error", id: "forbidden" }, `Your role (${staff.me.role}) does not allow this page.`));
    switch (name) {
      case "pairs": return await pairsPage();
      case "halts": return await haltsPage();
      case "users": return await usersPage(argument);
      case "audit": return await auditPage();
      case "cluster": return await clusterPage();
      case "staff": return await staffPage();
    }
  } catch (error) {
    if (error.status === 401) { staff.clear(); nav(); return loginPage(); }
    page("Error", el("p", { class: "error", id: error.status === 403 ? "forbidden" : "page-error" }, error.message));
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
