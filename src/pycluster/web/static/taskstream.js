// The task stream (one lane per worker, one colour per function, the last 30 s) and the
// durations-by-function table. It asks GET /api/dashboard/task-stream for the records since its
// last look, only while the Tasks tab is on screen and the browser tab is visible.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { number } from "./format.js";
import { state } from "./state.js";

const WINDOW_S = 30;
const LIMIT = 1000; // records per look: enough to draw, bounded for a very busy cluster
const FUNCTIONS_SHOWN = 20;
let records = [];
let lanes = [];
let since = 0;
let now = 0;
let timer = null;
let running = false;
let functionsKey = "";

/** A stable colour per function name (the same function keeps its colour across reloads). */
export function colour(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 65% 52%)`;
}

export function init() {
  document.addEventListener("visibilitychange", () => (document.hidden ? pause() : running && look()));
  window.addEventListener("resize", draw);
}

export function start() {
  running = true;
  look();
}

export function stop() {
  running = false;
  pause();
}

function pause() {
  clearTimeout(timer);
  timer = null;
}

async function look() {
  pause();
  if (!running || document.hidden) return;
  try {
    const view = await api(`/api/dashboard/task-stream?since=${since}&limit=${LIMIT}`);
    if (view.last_seq < since) records = []; // the head restarted: its numbering began again
    since = view.last_seq;
    now = view.now;
    lanes = view.workers;
    records = records.concat(view.records).filter((r) => r.stop >= now - WINDOW_S);
    draw();
    renderFunctions(view.functions);
  } catch {
    /* the next look tries again; the stream's banner says when the head is gone */
  }
  if (running && !document.hidden) timer = setTimeout(look, Math.max(1, state.interval) * 1000);
}

function draw() {
  const canvas = $("task-stream");
  const empty = !records.length;
  $("task-stream-empty").hidden = !empty;
  canvas.hidden = empty;
  if (empty || !canvas.clientWidth) return;
  const laneHeight = Math.max(3, Math.min(22, 150 / Math.max(1, lanes.length)));
  const height = Math.max(60, lanes.length * laneHeight + 18);
  const ratio = window.devicePixelRatio || 1;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const width = canvas.clientWidth;
  const x = (t) => ((t - (now - WINDOW_S)) / WINDOW_S) * width;
  const laneOf = new Map(lanes.map((address, i) => [address, i]));
  const styles = getComputedStyle(document.documentElement);
  g.fillStyle = styles.getPropertyValue("--surface-2").trim() || "#f1f4f9";
  for (let i = 0; i < lanes.length; i += 2) g.fillRect(0, i * laneHeight, width, laneHeight);
  for (const r of records) {
    const lane = laneOf.get(r.worker);
    if (lane === undefined) continue;
    const left = x(r.start);
    g.fillStyle = r.ok ? colour(r.function) : styles.getPropertyValue("--bad").trim() || "#dc2626";
    g.fillRect(left, lane * laneHeight + 1, Math.max(1, x(r.stop) - left), Math.max(1, laneHeight - 2));
  }
  g.fillStyle = styles.getPropertyValue("--muted").trim() || "#667085";
  g.font = "11px system-ui, sans-serif";
  g.fillText(`−${WINDOW_S} s`, 2, height - 4);
  g.fillText("now", width - 24, height - 4);
  canvas.setAttribute("aria-label", `Task stream: ${records.length} tasks on ${lanes.length} workers in the last ${WINDOW_S} s`);
}

function seconds(value) {
  if (value >= 1) return `${value.toFixed(2)} s`;
  if (value >= 0.001) return `${(value * 1000).toFixed(1)} ms`;
  return `${Math.round(value * 1e6)} µs`;
}

function renderFunctions(functions) {
  const shown = functions.slice(0, FUNCTIONS_SHOWN);
  const key = shown.map((f) => `${f.function}:${f.count}:${f.failed}`).join("|");
  if (key === functionsKey) return;
  functionsKey = key;
  $("functions-table").hidden = shown.length === 0;
  $("functions-body").replaceChildren(
    ...shown.map((f) =>
      h(
        "tr",
        { dataset: { function: f.function } },
        h("td", { "data-label": "Function" }, swatch(f.function), h("span", { class: "cell-main", text: f.function })),
        h("td", { class: "num", "data-label": "Tasks", text: number(f.count) }),
        h("td", { class: "num", "data-label": "Failed", text: number(f.failed) }),
        h("td", { class: "num", "data-label": "Mean", text: seconds(f.mean_s) }),
        h("td", { class: "num", "data-label": "Max", text: seconds(f.max_s) }),
        h("td", { class: "num", "data-label": "Total", text: seconds(f.total_s) }),
      ),
    ),
  );
}

function swatch(name) {
  const el = h("span", { class: "functions-swatch" });
  el.style.background = colour(name); // through the CSSOM: the page's CSP allows no inline style attribute
  return el;
}
