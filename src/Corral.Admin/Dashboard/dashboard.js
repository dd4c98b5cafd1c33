// Corral dashboard: polls the admin API and renders with textContent only. Host names come from whoever makes the
// flows (attackers included), so data is only ever set as text, never parsed as HTML.
"use strict";

const TOKEN_KEY = "corral-admin-token";
const FLOW_LIMIT = 200;
let pendingPromotion = null;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function replaceChildren(parent, children) {
  parent.replaceChildren(...children);
}

// Reads need the token too when the admin server listens beyond loopback (the server says so with 401).
async function getJson(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { cache: "no-store", headers: token ? { "Authorization": "Bearer " + token } : {} });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (document.getElementById("token-box").hidden) askToken(null);
  }
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function renderStatus(status) {
  const problem = document.getElementById("flowlog-problem");
  const log = status.flowLog;
  if (!log.recording) {
    problem.hidden = false;
    problem.textContent = "Flow log NOT RECORDING since " + new Date(log.since).toLocaleString() + ": " + log.problem
      + " (" + log.dropped + " record(s) not written so far)";
  } else if (log.dropped > 0) {
    problem.hidden = false;
    problem.textContent = log.dropped + " flow record(s) could not be written (see corral_gateway_flowlog_dropped_total)";
  } else {
    problem.hidden = true;
  }
  const readiness = document.getElementById("readiness");
  readiness.hidden = status.ready;
  readiness.textContent = status.ready ? "" : status.reason;
  document.getElementById("connections").textContent = status.connections.active + " open, limit " + status.connections.limit
    + ", " + status.connections.refused + " refused";
}

function renderPolicy(policy) {
  document.getElementById("policy-name").textContent = policy.name;
  document.getElementById("policy-hash").textContent = policy.hash;
  document.getElementById("policy-loaded").textContent = new Date(policy.loadedAt).toLocaleString();
  document.getElementById("policy-source").textContent = policy.source + " (" + policy.reloads + " reloads, " + policy.failures + " failed)";
  const error = document.getElementById("reload-error");
  if (policy.lastError) {
    error.hidden = false;
    error.textContent = (policy.failing ? "Last reload FAILED (previous policy still in force): " : "An earlier reload failed: ")
      + new Date(policy.lastError.at).toLocaleString() + " from " + policy.lastError.source + "\n" + policy.lastError.message;
  } else {
    error.hidden = true;
  }
  const drift = document.getElementById("drift");
  drift.hidden = !policy.drift;
  drift.textContent = policy.drift ? "Drift: " + policy.drift : "";
}

function isDenied(flow) { return flow.action === "deny"; }

function renderWatchRules(policy, flows) {
  const container = document.getElementById("watch-rules");
  const watched = policy.rules.filter(r => r.mode === "watch");
  if (watched.length === 0) {
    replaceChildren(container, [el("p", "No rule is in watch mode.", "muted")]);
    return;
  }
  // The page refreshes every second; a rule's Promote button stays the same element, so a click is never lost to it.
  const buttons = new Map(Array.from(container.querySelectorAll("button.promote"), b => [b.dataset.rule, b]));
  replaceChildren(container, watched.map(rule => {
    const box = el("div", null, "watch-rule");
    box.dataset.rule = rule.name;
    const title = el("h3");
    title.append(el("span", rule.name, "rule-name"), el("span", " (" + rule.action + ", priority " + rule.priority + ")", "muted"));
    const would = flows.filter(f => f.rule === rule.name && isDenied(f) && f.enforced === false);
    const list = el("ul", null, "would-deny");
    for (const g of groupByDestination(would).slice(0, 20)) {
      const item = el("li", g.destination + " — " + g.count + "×, last " + g.last.toLocaleTimeString());
      item.dataset.destination = g.destination;
      item.dataset.count = String(g.count);
      list.append(item);
    }
    const count = el("p", rule.action === "deny"
      ? would.length + " flow(s) in the last " + flows.length + " would have been denied"
      : "permit rule in watch mode", "muted would-deny-count");
    const button = buttons.get(rule.name) ?? promoteButton(rule.name);
    box.append(title, count, ruleChart(would), list, button);
    return box;
  }));
}

function promoteButton(ruleName) {
  const button = el("button", "Promote to enforce", "promote");
  button.type = "button";
  button.dataset.rule = ruleName;
  button.addEventListener("click", () => confirmWithImpact(ruleName, () => promote(ruleName)));
  return button;
}

function renderDenials(flows) {
  const byRule = new Map();
  for (const f of flows) {
    if (!isDenied(f)) continue;
    const name = f.rule === null ? "(" + (f.reason || "default") + ")" : f.rule;
    const entry = byRule.get(name) || { denied: 0, would: 0 };
    if (f.enforced === false) entry.would++; else entry.denied++;
    byRule.set(name, entry);
  }
  document.getElementById("denials-window").textContent = "(last " + flows.length + " flows)";
  const rows = [...byRule.entries()].sort((a, b) => (b[1].denied + b[1].would) - (a[1].denied + a[1].would)).map(([name, e]) => {
    const row = el("tr");
    row.dataset.rule = name;
    row.append(el("td", name), el("td", e.denied, "denied"), el("td", e.would, "would"));
    return row;
  });
  replaceChildren(document.querySelector("#denials tbody"), rows);
}

// Calls and denials per MCP tool (request records of rules with an mcp section), and servers whose tools changed.
function renderMcp(flows, pins) {
  const byTool = new Map();
  for (const f of flows) {
    if (!f.mcp) continue;
    const key = (f.host || f.dst || "") + "\u0000" + (f.mcp.tool || f.mcp.method);
    const entry = byTool.get(key) || { calls: 0, denied: 0, would: 0 };
    entry.calls++;
    if (f.mcp.denied && f.enforced === false) entry.would++; else if (f.mcp.denied) entry.denied++;
    byTool.set(key, entry);
  }
  const rows = [...byTool.entries()].sort((a, b) => b[1].calls - a[1].calls).map(([key, e]) => {
    const [server, tool] = key.split("\u0000");
    const row = el("tr");
    row.dataset.tool = tool;
    row.append(el("td", server), el("td", tool, "tool"), el("td", e.calls, "calls"), el("td", e.denied, "denied"), el("td", e.would, "would"));
    return row;
  });
  replaceChildren(document.querySelector("#mcp-tools tbody"), rows);
  const changed = pins.filter(p => p.pending.length > 0);
  const note = document.getElementById("mcp-changes");
  note.hidden = changed.length === 0;
  note.textContent = changed.map(p => p.server + ": tools changed since pinned (" + p.pending.join(", ") + "); review, then corral mcp accept " + p.server).join(" · ");
}

function renderFlows(flows) {
  const rows = flows.map(f => {
    const row = el("tr");
    row.dataset.flow = f.flow;
    row.dataset.rule = f.rule === null ? "" : f.rule;
    row.dataset.action = f.action;
    row.dataset.enforced = String(f.enforced);
    row.append(
      el("td", new Date(f.time).toLocaleTimeString()),
      el("td", f.agent || ""),
      el("td", f.host || "", "host"),
      el("td", f.dst || ""),
      el("td", f.rule === null ? "—" : f.rule, "rule"),
      el("td", f.action, f.action),
      el("td", f.enforced ? "enforced" : "watch", "enforced"),
      el("td", f.reason || ""));
    return row;
  });
  replaceChildren(document.querySelector("#flows tbody"), rows);
}

function renderDns(queries) {
  const rows = queries.map(q => {
    const row = el("tr");
    row.dataset.flow = q.flow;
    row.dataset.action = q.action;
    row.append(
      el("td", new Date(q.time).toLocaleTimeString()),
      el("td", q.src),
      el("td", q.host || "", "host"),
      el("td", q.qtype || ""),
      el("td", q.rule === null ? (q.check ? "(" + q.check + ")" : "—") : q.rule, "rule"),
      el("td", q.action + (q.address_only ? " (address-only)" : ""), q.action),
      el("td", (q.answers || []).join(", ")),
      el("td", (q.flags || []).join(", "), (q.flags || []).length > 0 ? "flagged" : null));
    return row;
  });
  replaceChildren(document.querySelector("#dns tbody"), rows);
}

async function refresh() {
  try {
    const [policy, flows, status, pins] = await Promise.all([getJson("/api/policy"), getJson("/api/flows?limit=" + FLOW_LIMIT), getJson("/api/status"), getJson("/api/mcp/pins")]);
    const decisions = flows.flows.filter(f => f.event === "decision" || f.event === "request");
    renderPolicy(policy);
    renderStatus(status);
    renderWatchRules(policy, decisions);
    renderDenials(decisions);
    renderMcp(decisions, pins);
    renderFlows(decisions);
    renderDns(flows.flows.filter(f => f.event === "dns"));
    document.getElementById("status").textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("status").textContent = "Cannot reach the admin API: " + e.message;
  }
}

function askToken(ruleName) {
  pendingPromotion = ruleName;
  document.getElementById("token-box").hidden = false;
  document.getElementById("token-input").focus();
}

async function promote(ruleName) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { askToken(ruleName); return; }
  const status = document.getElementById("status");
  const response = await fetch("/api/rules/" + encodeURIComponent(ruleName) + "/mode", {
    method: "POST",
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ mode: "enforce" }),
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken(ruleName);
    status.textContent = "The token was refused; enter it again.";
    return;
  }
  const body = await response.json().catch(() => ({}));
  status.textContent = response.ok
    ? "Rule " + ruleName + " now enforced" + (body.drift ? " (not written back: " + body.drift + ")" : "")
    : "Promotion failed: " + (body.error || ("HTTP " + response.status));
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-save").addEventListener("click", () => {
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token-input").value = "";
    document.getElementById("token-box").hidden = true;
    const rule = pendingPromotion;
    pendingPromotion = null;
    if (rule) promote(rule); else refresh();
  });
  document.getElementById("token-cancel").addEventListener("click", () => {
    pendingPromotion = null;
    document.getElementById("token-box").hidden = true;
  });
  refresh();
  setInterval(refresh, 1000);
});
