// Monitoring: CPU, memory and network over time; refresh interval, chart window and alert
// thresholds a person can change; recent alerts; the cluster's GPU usage (GET
// /api/llm/gpu/history, read every GPU_POLL_MS while the tab is shown).

import { api } from "./api.js";
import { thresholdLine, timeChart } from "./charts.js";
import { $, h, setText, toast } from "./dom.js";
import { clock, gibOf, percent, rate } from "./format.js";
import { remember, state, windowSamples } from "./state.js";

let charts = [];
let thresholds = { cluster_cpu: 0.9, cluster_memory: 0.9 };
let alertIds = "";
const GPU_POLL_MS = 5000;
let gpuTimer = null;
let gpuSamples = [];
let gpuChart = null;

export function init(ctx) {
  const windowSeconds = () => state.windowSeconds;
  const cpuLine = (p) => [thresholdLine(thresholds.cluster_cpu * 100, p.bad, "alert")];
  const memLine = (p) => [thresholdLine(thresholds.cluster_memory * 100, p.bad, "alert")];
  charts = [
    timeChart($("chart-cpu"), windowSamples, [{ name: "CPU", y: (s) => s.cpu_percent, color: "accent", fill: true }], { yMax: 100, ySuffix: "%", shapes: cpuLine, windowSeconds }),
    timeChart($("chart-memory"), windowSamples, [{ name: "Memory", y: (s) => s.memory_usage_percent, color: "teal", fill: true }], { yMax: 100, ySuffix: "%", shapes: memLine, windowSeconds }),
    timeChart(
      $("chart-network"),
      windowSamples,
      [
        { name: "read", y: (s) => s.network_read_bps / 1e6, color: "info" },
        { name: "write", y: (s) => s.network_write_bps / 1e6, color: "warn" },
      ],
      { ySuffix: " MB/s", windowSeconds },
    ),
  ];
  // all GPUs of the cluster: average utilization, and memory used of their total
  gpuChart = timeChart(
    $("chart-gpu-usage"),
    () => gpuSamples,
    [
      { name: "utilization", y: (s) => s.avg_utilization, color: "accent", fill: true },
      { name: "memory", y: (s) => (s.memory_total ? (100 * s.memory_used) / s.memory_total : null), color: "teal" },
    ],
    { yMax: 100, ySuffix: "%", windowSeconds },
  );
  const interval = $("refresh-interval");
  interval.value = String(state.interval);
  interval.addEventListener("change", () => {
    remember("interval", Number(interval.value));
    ctx.reconnect();
    toast(`Refreshing every ${interval.value} s`);
  });
  const windowSelect = $("chart-window");
  windowSelect.value = String(state.windowSeconds);
  windowSelect.addEventListener("change", async () => {
    remember("windowSeconds", Number(windowSelect.value));
    await ctx.loadHistory();
    ctx.redrawCharts();
  });
  $("threshold-form").addEventListener("submit", saveThresholds);
}

async function saveThresholds(event) {
  event.preventDefault();
  setText("threshold-error", "");
  const body = {
    cluster_cpu: Number($("threshold-cpu").value) / 100,
    cluster_memory: Number($("threshold-memory").value) / 100,
  };
  try {
    const answer = await api("/api/dashboard/alerts/thresholds", { method: "PUT", body });
    thresholds = answer.thresholds;
    for (const chart of charts) chart.draw(true);
    toast("Alert thresholds saved");
  } catch (error) {
    setText("threshold-error", error.message);
  }
}

function showThresholds(next) {
  thresholds = next;
  for (const [id, key] of [["threshold-cpu", "cluster_cpu"], ["threshold-memory", "cluster_memory"]]) {
    const input = $(id);
    if (document.activeElement !== input) input.value = String(Math.round(next[key] * 100));
  }
}

function renderAlerts(alerts) {
  const recent = alerts.recent || [];
  const ids = recent.map((a) => `${a.id}:${a.count || ""}`).join(); // a failure burst's count grows in place
  setText("alerts-active", alerts.active && alerts.active.length ? `firing: ${alerts.active.join(", ")}` : "");
  if (ids === alertIds) return;
  alertIds = ids;
  $("alerts-list").replaceChildren(
    ...recent.map((a) =>
      h(
        "li",
        { class: `alert-${a.level}` },
        h("span", { class: `badge ${a.level}`, text: a.level }),
        h("span", { text: a.message }),
        h("time", { datetime: a.time, text: clock(a.time) }),
      ),
    ),
  );
  $("alerts-empty").hidden = recent.length > 0;
}

export function render(snap, { samplesChanged }) {
  if (snap.alerts) {
    const changed = JSON.stringify(snap.alerts.thresholds) !== JSON.stringify(thresholds);
    showThresholds(snap.alerts.thresholds);
    renderAlerts(snap.alerts);
    if (changed) for (const chart of charts) chart.draw(true);
  }
  const last = snap.metrics && snap.metrics[snap.metrics.length - 1];
  if (last) charts[2].el.title = `read ${rate(last.network_read_bps)} · write ${rate(last.network_write_bps)}`;
  if (samplesChanged) for (const chart of charts) chart.draw();
}

async function loadGpu() {
  if (document.hidden) return;
  let samples = [];
  let reason = null;
  try {
    samples = (await api(`/api/llm/gpu/history?seconds=${state.windowSeconds}`)).samples;
    if (!samples.length) reason = (await api("/api/llm/gpu/status?history=0")).summary.reason;
  } catch (error) {
    reason = error.status === 404 ? "This head runs no GPU service." : error.message;
  }
  gpuSamples = samples.filter((s) => s.count > 0);
  const last = gpuSamples[gpuSamples.length - 1];
  $("chart-gpu-usage").hidden = !last;
  $("gpu-usage-empty").hidden = Boolean(last);
  if (reason) setText("gpu-usage-reason", reason);
  setText(
    "gpu-usage-summary",
    last ? `${last.count} GPU${last.count === 1 ? "" : "s"} · ${percent(last.avg_utilization)} busy · ${gibOf(last.memory_used, last.memory_total)}` : "all GPUs of the cluster, %",
  );
  if (last) gpuChart.draw(true);
}

export function shown() {
  for (const chart of charts) chart.shown();
  clearInterval(gpuTimer);
  loadGpu();
  gpuTimer = setInterval(loadGpu, GPU_POLL_MS);
}

export function hidden() {
  clearInterval(gpuTimer);
}

export function redraw() {
  for (const chart of charts) chart.draw(true);
  gpuChart.draw(true);
}
