// The HTML timeline of one run: a single self-contained page (inline CSS, JS and SVG, nothing
// fetched) with a lane per node showing its role and term, the lease it could serve reads from,
// crashes and pauses; a lane of partitions and faults; a lane per client with its operations;
// and any violation marked. Hover anything for details; zoom with the slider, or open
// timeline.html#from=<ms>&zoom=<0-100> to start at a given view.

import type { TimelineData } from "./timeline-data.js";

export function renderTimeline(data: TimelineData): string {
  const json = JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(data.title)}</h1>
  <div class="replay">replay: <code>${escapeHtml(data.replay)}</code></div>
  <div id="verdict"></div>
  <div class="controls">
    <label>zoom <input id="zoom" type="range" min="0" max="100" value="0"></label>
    <label>from <input id="from" type="number" step="100" value="0"> ms</label>
    <span class="legend">
      <i class="follower"></i>follower <i class="candidate"></i>candidate <i class="leader"></i>leader
      <i class="lease"></i>lease readable <i class="crashed"></i>crashed <i class="paused"></i>paused
      <i class="partition"></i>partition <i class="op-set"></i>SET <i class="op-get"></i>GET
      <i class="op-fail"></i>failed <i class="op-unknown"></i>unknown
    </span>
  </div>
</header>
<div id="chart"></div>
<div id="tip"></div>
<script type="application/json" id="data">${json}</script>
<script>${JS}</script>
</body>
</html>
`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const CSS = `
body { font: 13px system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 8px 12px; border-bottom: 1px solid #ccc; position: sticky; top: 0; background: #fff; z-index: 2; }
h1 { font-size: 16px; margin: 0 0 4px; }
.replay code { background: #f4f4f4; padding: 1px 4px; }
#verdict { margin: 4px 0; font-weight: 600; }
#verdict.bad { color: #b00; } #verdict.good { color: #070; }
.controls { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
.legend i { display: inline-block; width: 12px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; }
.follower { background: #d9d9d9; } .candidate { background: #f2c94c; } .leader { background: #2f80ed; }
.lease { background: #27ae60; } .crashed { background: #333; } .paused { background: #f2994a; }
.partition { background: #eb5757; opacity: .5; } .op-set { background: #6d4c9f; } .op-get { background: #56ccf2; }
.op-fail { background: #eb5757; } .op-unknown { background: #999; }
#chart { overflow-x: auto; padding: 8px 0 24px; }
svg text { font-size: 11px; fill: #333; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 6px; font-size: 12px; border-radius: 3px; display: none; max-width: 520px; white-space: pre-wrap; z-index: 3; }
`;

const JS = `
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const LABEL = 120, LANE = 18, GAP = 6;
const ROLE_COLOR = { follower: "#d9d9d9", candidate: "#f2c94c", leader: "#2f80ed" };
const svgNS = "http://www.w3.org/2000/svg";
const tip = document.getElementById("tip");
const verdict = document.getElementById("verdict");
if (D.violation) { verdict.className = "bad"; verdict.textContent = "VIOLATION (" + D.violation.property + ") at " + D.violation.atMs.toFixed(3) + " ms: " + D.violation.message; }
else { verdict.className = "good"; verdict.textContent = "no violation"; }
const clients = [...new Set(D.ops.map(o => o.clientId))].sort();

function el(name, attrs, parent) {
  const e = document.createElementNS(svgNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function hover(e, text) {
  e.addEventListener("mousemove", ev => { tip.style.display = "block"; tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px"; tip.textContent = text; });
  e.addEventListener("mouseleave", () => { tip.style.display = "none"; });
}
function fmt(ms) { return (ms / 1000).toFixed(3) + " s"; }

function draw() {
  const zoom = Number(document.getElementById("zoom").value);
  const from = Math.max(0, Number(document.getElementById("from").value) || 0);
  // zoom 0 shows the whole run; each step shows 7% less of it, starting at "from".
  const pxPerMs = (1200 / Math.max(1, D.endMs)) * Math.pow(1.07, zoom);
  const x = t => LABEL + (Math.min(t, D.endMs) - from) * pxPerMs;
  const width = LABEL + (D.endMs - from) * pxPerMs + 240;
  const lanes = [];
  lanes.push({ name: "network", kind: "net" });
  for (let n = 0; n < D.nodeCount; n++) { lanes.push({ name: "node " + n, kind: "role", node: n }); lanes.push({ name: "  lease", kind: "lease", node: n }); }
  for (const c of clients) lanes.push({ name: "client " + c, kind: "client", client: c });
  const height = 30 + lanes.length * (LANE + GAP) + 10;
  const chart = document.getElementById("chart");
  chart.innerHTML = "";
  const svg = el("svg", { width, height }, chart);
  drawAxis(svg, x, from, height, pxPerMs);
  lanes.forEach((lane, i) => drawLane(svg, lane, 30 + i * (LANE + GAP), x, from));
  for (const f of D.faults) if (f.atMs >= from) {
    const l = el("line", { x1: x(f.atMs), x2: x(f.atMs), y1: 24, y2: height, stroke: "#eb5757", "stroke-dasharray": "2,3", "stroke-width": 1 }, svg);
    hover(l, fmt(f.atMs) + "  nemesis: " + f.text);
  }
  if (D.violation) {
    const vx = x(D.violation.atMs);
    el("line", { x1: vx, x2: vx, y1: 10, y2: height, stroke: "#b00", "stroke-width": 3 }, svg);
    const t = el("text", { x: vx + 4, y: 20, fill: "#b00" }, svg); t.textContent = "violation: " + D.violation.property;
    hover(t, D.violation.message);
  }
}

function drawAxis(svg, x, from, height, pxPerMs) {
  const stepMs = [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000].find(s => s * pxPerMs >= 60) || 60000;
  for (let t = Math.ceil(from / stepMs) * stepMs; t <= D.endMs; t += stepMs) {
    el("line", { x1: x(t), x2: x(t), y1: 22, y2: height, stroke: "#eee" }, svg);
    const label = el("text", { x: x(t) + 2, y: 18 }, svg); label.textContent = (t / 1000) + " s";
  }
}

function bar(svg, x0, x1, y, color, text, extra) {
  if (x1 < LABEL) return null;
  const r = el("rect", Object.assign({ x: Math.max(LABEL, x0), y, width: Math.max(1, x1 - Math.max(LABEL, x0)), height: LANE, fill: color }, extra || {}), svg);
  if (text) hover(r, text);
  return r;
}

function drawLane(svg, lane, y, x, from) {
  const label = el("text", { x: 4, y: y + 13 }, svg); label.textContent = lane.name;
  const end = s => s.toMs === null ? D.endMs : s.toMs;
  if (lane.kind === "net") {
    for (const p of D.links) bar(svg, x(p.fromMs), x(end(p)), y, "rgba(235,87,87,.45)", fmt(p.fromMs) + " to " + fmt(end(p)) + "\\nwho can send to whom: " + p.description);
  } else if (lane.kind === "role") {
    for (const s of D.roles) if (s.nodeId === lane.node && end(s) >= from) {
      const r = bar(svg, x(s.fromMs), x(end(s)), y, ROLE_COLOR[s.role], "node " + s.nodeId + " " + s.role + ", term " + s.term + "\\n" + fmt(s.fromMs) + " to " + fmt(end(s)));
      if (r && s.role === "leader" && x(end(s)) - x(s.fromMs) > 30) { const t = el("text", { x: Math.max(LABEL, x(s.fromMs)) + 3, y: y + 13, fill: "#fff" }, svg); t.textContent = "T" + s.term; t.style.fill = "#fff"; }
    }
    for (const s of D.states) if (s.nodeId === lane.node && end(s) >= from) {
      bar(svg, x(s.fromMs), x(end(s)), y + 4, s.state === "crashed" ? "#333" : "#f2994a", "node " + s.nodeId + " " + s.state + "\\n" + fmt(s.fromMs) + " to " + fmt(end(s)), { height: LANE - 8 });
    }
  } else if (lane.kind === "lease") {
    for (const p of D.leases) if (p.nodeId === lane.node && p.toMs >= from) {
      bar(svg, x(p.fromMs), x(p.toMs), y + 3, "#27ae60", "node " + p.nodeId + " may serve lease reads (term " + p.term + ")\\n" + fmt(p.fromMs) + " to " + fmt(p.toMs), { height: LANE - 6 });
    }
  } else {
    for (const o of D.ops) if (o.clientId === lane.client && (o.completeMs === null ? D.endMs : o.completeMs) >= from) {
      const color = o.outcome === "fail" ? "#eb5757" : o.outcome === "unknown" ? "#999" : o.kind === "set" ? "#6d4c9f" : "#56ccf2";
      const done = o.completeMs === null ? D.endMs : o.completeMs;
      const text = o.kind.toUpperCase() + " " + o.key + (o.kind === "set" ? " " + o.value : " -> " + JSON.stringify(o.value)) + "  (" + o.outcome + ")\\ninvoked " + fmt(o.invokeMs) + (o.completeMs === null ? ", never completed" : ", completed " + fmt(o.completeMs));
      bar(svg, x(o.invokeMs), Math.max(x(o.invokeMs) + 2, x(done)), y + 2, color, text, { height: LANE - 4 });
    }
  }
}

document.getElementById("zoom").addEventListener("input", draw);
document.getElementById("from").addEventListener("change", draw);
if (D.violation) {
  // Open on the three seconds around the violation.
  document.getElementById("from").value = String(Math.max(0, Math.floor((D.violation.atMs - 1500) / 100) * 100));
  document.getElementById("zoom").value = String(Math.max(0, Math.min(100, Math.round(Math.log(D.endMs / 3000) / Math.log(1.07)))));
}
// A link can open a view: timeline.html#from=9000&zoom=60
for (const part of location.hash.slice(1).split("&")) {
  const [k, v] = part.split("=");
  if ((k === "from" || k === "zoom") && v !== undefined && v !== "") document.getElementById(k).value = v;
}
window.addEventListener("hashchange", () => location.reload());
draw();
`;
