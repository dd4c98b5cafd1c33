// Corral dashboard, evidence before promotion: would-be denials grouped by destination, a small per-rule chart over
// time, and a rule's impact (GET /api/rules/{name}/impact, the computation `corral replay` uses) shown before a
// promotion is confirmed. Text only ever goes in through textContent; SVG is built node by node.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_BUCKETS = 12;

// [{ destination, count, first, last }] most frequent first: one line per destination instead of one per flow.
function groupByDestination(flows) {
  const groups = new Map();
  for (const f of flows) {
    const destination = f.host || f.dst || "?";
    const time = new Date(f.time);
    const g = groups.get(destination) || { destination, count: 0, first: time, last: time };
    g.count++;
    if (time < g.first) g.first = time;
    if (time > g.last) g.last = time;
    groups.set(destination, g);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.destination.localeCompare(b.destination));
}

// A bar per time slice from the oldest flow to now; the bar's height is the flows in that slice.
function ruleChart(flows) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "rule-chart");
  svg.setAttribute("viewBox", "0 0 " + CHART_BUCKETS * 10 + " 30");
  svg.setAttribute("role", "img");
  const now = Date.now();
  const oldest = flows.reduce((m, f) => Math.min(m, new Date(f.time).getTime()), now);
  const span = Math.max(now - oldest, 60000) + 1;
  const counts = new Array(CHART_BUCKETS).fill(0);
  for (const f of flows) counts[Math.min(CHART_BUCKETS - 1, Math.floor((new Date(f.time).getTime() - oldest) / span * CHART_BUCKETS))]++;
  const max = Math.max(1, ...counts);
  counts.forEach((count, i) => {
    const bar = document.createElementNS(SVG_NS, "rect");
    const height = count === 0 ? 0 : Math.max(2, Math.round(count / max * 28));
    bar.setAttribute("x", String(i * 10 + 1));
    bar.setAttribute("y", String(30 - height));
    bar.setAttribute("width", "8");
    bar.setAttribute("height", String(height));
    bar.setAttribute("class", "bar");
    bar.dataset.count = String(count);
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = count + " flow(s) from " + new Date(oldest + span * i / CHART_BUCKETS).toLocaleTimeString();
    bar.append(title);
    svg.append(bar);
  });
  svg.dataset.total = String(flows.length);
  const label = document.createElementNS(SVG_NS, "title");
  label.textContent = flows.length + " would-be denial(s) since " + new Date(oldest).toLocaleTimeString();
  svg.prepend(label);
  return svg;
}

// Fetches what enforcing the rule would change and asks for confirmation; onConfirm runs the promotion.
async function confirmWithImpact(ruleName, onConfirm) {
  const box = document.getElementById("impact-box");
  const summary = document.getElementById("impact-summary");
  const list = document.getElementById("impact-destinations");
  const confirm = document.getElementById("impact-confirm");
  box.hidden = false;
  box.dataset.rule = ruleName;
  confirm.disabled = true;
  summary.textContent = "Replaying the remembered flows against the policy with " + ruleName + " enforced…";
  list.replaceChildren();
  try {
    const r = (await getJson("/api/rules/" + encodeURIComponent(ruleName) + "/impact")).replay;
    box.dataset.blocked = String(r.permit_to_deny);
    summary.textContent = "Enforcing " + ruleName + " would block " + r.permit_to_deny + " of the " + r.records
      + " decisions and requests the gateway remembers" + (r.permit_to_deny > 0 ? " (last seen " + new Date(r.changes[0].last_seen).toLocaleTimeString() + "):" : ".");
    for (const change of r.changes.filter(c => c.enforcement === "permit-to-deny")) {
      for (const d of change.top_destinations) {
        const item = document.createElement("li");
        item.textContent = (d.host || d.address) + ":" + d.port + " — " + d.count + "×, last " + new Date(d.last_seen).toLocaleTimeString();
        item.dataset.destination = d.host || d.address;
        item.dataset.count = String(d.count);
        list.append(item);
      }
    }
  } catch (e) {
    summary.textContent = "The impact could not be computed (" + e.message + "); promote only if you know what it blocks.";
  }
  confirm.disabled = false;
  confirm.onclick = () => { box.hidden = true; onConfirm(); };
  document.getElementById("impact-cancel").onclick = () => { box.hidden = true; };
}
