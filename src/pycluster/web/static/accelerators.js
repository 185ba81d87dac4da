// GPU tab: every worker machine's GPUs (GET /api/llm/gpu/status), a history chart per GPU
// (GET /api/llm/gpu/history) and the temperature/power/memory alerts (GET /api/llm/gpu/alerts).
// Polled while the tab is shown; a head without the GPU service answers 404, and the empty
// state then says so.

import { api } from "./api.js";
import { timeChart } from "./charts.js";
import { $, h, setMeter, setText } from "./dom.js";
import { celsius, clock, gibOf, megahertz, percent, watts } from "./format.js";
import { state } from "./state.js";

const POLL_MS = 5000;
let timer = null;
let lastSnapshot = null;
let history = [];
const cards = new Map(); // GPU key -> {el, facts, meter, chart}
let alertIds = "";
const BADGE = { critical: "bad", warning: "warning" }; // an alert's level -> the badge colour

/** A GPU is known by its host and uuid (indices repeat on every machine). */
const gpuKey = (gpu) => `${gpu.host || ""}|${gpu.uuid || gpu.id}`;

/** The label-value rows of one GPU's card, in the units people read (see format.js). */
export function gpuFacts(gpu) {
  const rows = [
    ["Utilization", percent(gpu.utilization)],
    ["Memory", `${gibOf(gpu.memory_used, gpu.memory_total)}${gpu.memory_percent == null ? "" : ` (${percent(gpu.memory_percent)})`}`],
    ["Temperature", celsius(gpu.temperature)],
    ["Power", gpu.power_limit == null ? watts(gpu.power_usage) : `${watts(gpu.power_usage)} of ${watts(gpu.power_limit)}`],
  ];
  if (gpu.fan_speed != null) rows.push(["Fan", percent(gpu.fan_speed)]);
  const clocks = gpu.clocks || {};
  if (clocks.sm != null) rows.push(["SM clock", megahertz(clocks.sm)]);
  if (gpu.performance_state) rows.push(["Performance state", gpu.performance_state]);
  if (gpu.throttle_reasons && gpu.throttle_reasons.length) rows.push(["Throttled", gpu.throttle_reasons.join(", ")]);
  if (gpu.ecc_errors) rows.push(["ECC errors", `${gpu.ecc_errors.corrected} corrected, ${gpu.ecc_errors.uncorrected} uncorrected`]);
  if (gpu.processes) rows.push(["Processes", String(gpu.processes.length)]);
  const workers = (gpu.workers || []).join(", ");
  if (workers) rows.push(["Workers", workers]);
  return rows;
}

function kv([label, value]) {
  return h("div", { class: "kv" }, h("span", { text: label }), h("span", { text: value }));
}

/** One GPU's points of the history: utilization and memory in %, temperature in °C. */
function gpuSeries(key) {
  return history.map((s) => {
    const g = (s.gpus || []).find((x) => gpuKey(x) === key) || {};
    return { timestamp: s.timestamp, utilization: g.utilization, memory: g.memory_percent, temperature: g.temperature };
  });
}

function createCard(key) {
  const c = {
    title: h("div", { class: "cell-main" }),
    host: h("div", { class: "hint" }),
    meter: h("div", { class: "meter", title: "memory used" }, h("span")),
    facts: h("div", { class: "gpu-facts" }),
    chartEl: h("div", { class: "chart small-chart" }),
  };
  c.el = h("div", { class: "gpu", dataset: { gpu: key } }, c.title, c.host, c.meter, c.facts, c.chartEl);
  c.chart = timeChart(
    c.chartEl,
    () => gpuSeries(key),
    [
      { name: "utilization %", y: (p) => p.utilization, color: "accent", fill: true },
      { name: "memory %", y: (p) => p.memory, color: "teal" },
      { name: "°C", y: (p) => p.temperature, color: "warn" },
    ],
    { yMax: 100, windowSeconds: () => state.windowSeconds },
  );
  return c;
}

function updateCard(c, gpu) {
  setText(c.title, `GPU ${gpu.id ?? "?"} · ${gpu.name || "unknown"}`);
  setText(c.host, gpu.hostname && gpu.hostname !== gpu.host ? `${gpu.hostname} (${gpu.host})` : gpu.host || "");
  setMeter(c.meter, gpu.memory_percent);
  c.facts.replaceChildren(...gpuFacts(gpu).map(kv));
}

function renderGpus(gpus) {
  const seen = new Set();
  const order = [];
  for (const gpu of gpus) {
    const key = gpuKey(gpu);
    seen.add(key);
    if (!cards.has(key)) cards.set(key, createCard(key));
    const c = cards.get(key);
    updateCard(c, gpu);
    order.push(c.el);
  }
  for (const key of [...cards.keys()]) if (!seen.has(key)) cards.delete(key);
  const grid = $("gpu-grid");
  if (order.length !== grid.children.length || order.some((el, i) => grid.children[i] !== el)) grid.replaceChildren(...order);
  for (const c of cards.values()) c.chart.draw(true);
}

function renderAlerts(answer) {
  const alerts = [...((answer && answer.alerts) || [])].reverse(); // newest first
  setText("gpu-alerts-active", answer && answer.active.length ? `${answer.active.length} active` : "");
  const ids = alerts.map((a) => `${a.id}:${a.active}:${a.level}`).join();
  if (ids === alertIds) return;
  alertIds = ids;
  $("gpu-alerts-list").replaceChildren(
    ...alerts.map((a) =>
      h(
        "li",
        { class: `alert-${a.level}`, dataset: { kind: a.kind, active: String(a.active) } },
        h("span", { class: `badge ${a.active ? BADGE[a.level] || "warning" : "resolved"}`, text: a.active ? a.level : "resolved" }),
        h("span", { class: "alert-message", text: a.message }),
        h("time", { datetime: a.raised_at, text: clock(a.raised_at), title: a.resolved_at ? `resolved ${clock(a.resolved_at)}` : "still active" }),
      ),
    ),
  );
  $("gpu-alerts-empty").hidden = alerts.length > 0;
}

function gpuWorkers() {
  const workers = (lastSnapshot && lastSnapshot.workers) || [];
  return workers.filter((w) => (w.resources || {}).GPU).map((w) => `${w.name} (GPU=${w.resources.GPU})`);
}

async function loadGpu() {
  if (document.hidden) return; // a background tab asks nothing
  let status = null;
  try {
    [status, { samples: history }] = await Promise.all([
      api("/api/llm/gpu/status?history=0"),
      api(`/api/llm/gpu/history?seconds=${state.windowSeconds}`),
    ]);
    renderAlerts(await api("/api/llm/gpu/alerts?limit=50"));
  } catch (error) {
    if (error.status !== 404) setText("gpu-reason", error.message);
  }
  const summary = (status && status.summary) || {};
  const gpus = summary.available ? summary.gpus || [] : [];
  renderGpus(gpus);
  $("gpu-empty").hidden = gpus.length > 0;
  $("gpu-alerts-card").hidden = gpus.length === 0 && !alertIds;
  const hosts = new Set(gpus.map((g) => g.host)).size;
  setText("gpu-summary", gpus.length ? `${gpus.length} GPU${gpus.length === 1 ? "" : "s"} on ${hosts} host${hosts === 1 ? "" : "s"}` : "");
  if (summary.reason) setText("gpu-reason", summary.reason);
  const advertised = gpuWorkers();
  setText("gpu-resource-workers", advertised.length ? `Workers advertising GPUs: ${advertised.join(", ")}` : "");
}

export const gpu = {
  init() {},
  render(snap) {
    lastSnapshot = snap;
  },
  shown() {
    clearInterval(timer);
    loadGpu();
    timer = setInterval(loadGpu, POLL_MS);
  },
  hidden() {
    clearInterval(timer);
  },
  redraw() {
    for (const c of cards.values()) c.chart.draw(true);
  },
};
