// GPU tab: reads GET /api/llm/gpu/status when shown (a head without the GPU service answers
// 404: the empty state then says so).

import { api } from "./api.js";
import { $, h, setText } from "./dom.js";
import { bytes } from "./format.js";

const POLL_MS = 10000;
let timer = null;
let lastSnapshot = null;

function kv(label, value) {
  return h("div", { class: "kv" }, h("span", { text: label }), h("span", { text: value }));
}

const GPU_FIELDS = [
  ["utilization_percent", "Utilization", (v) => `${Number(v).toFixed(0)}%`],
  ["utilization", "Utilization", (v) => `${Number(v).toFixed(0)}%`],
  ["memory_used", "Memory used", bytes],
  ["memory_total", "Memory total", bytes],
  ["memory_used_mb", "Memory used", (v) => `${Number(v).toFixed(0)} MB`],
  ["memory_total_mb", "Memory total", (v) => `${Number(v).toFixed(0)} MB`],
  ["temperature", "Temperature", (v) => `${Number(v).toFixed(0)} °C`],
  ["power_usage", "Power", (v) => `${Number(v).toFixed(0)} W`],
  ["worker", "Worker", String],
  ["host", "Host", String],
];

function gpuCard(gpu, index) {
  const title = gpu.name || `GPU ${gpu.index ?? gpu.gpu_id ?? index}`;
  const facts = GPU_FIELDS.filter(([key]) => gpu[key] !== undefined && gpu[key] !== null).map(([key, label, fmt]) => kv(label, fmt(gpu[key])));
  return h("div", { class: "gpu" }, h("div", { class: "cell-main", text: title }), ...facts);
}

function gpuWorkers() {
  const workers = (lastSnapshot && lastSnapshot.workers) || [];
  return workers.filter((w) => (w.resources || {}).GPU).map((w) => `${w.name} (GPU=${w.resources.GPU})`);
}

async function loadGpu() {
  let status = null;
  try {
    status = await api("/api/llm/gpu/status");
  } catch (error) {
    if (error.status !== 404) setText("gpu-reason", error.message);
  }
  const summary = (status && status.summary) || {};
  const gpus = summary.available ? summary.gpus || [] : [];
  $("gpu-grid").replaceChildren(...gpus.map(gpuCard));
  $("gpu-empty").hidden = gpus.length > 0;
  setText("gpu-summary", gpus.length ? `${gpus.length} GPU${gpus.length === 1 ? "" : "s"}` : "");
  if (summary.reason) setText("gpu-reason", summary.reason);
  const advertised = gpuWorkers();
  setText("gpu-resource-workers", advertised.length ? `Workers advertising GPUs: ${advertised.join(", ")}` : "");
}

function poll(load) {
  clearInterval(timer);
  load();
  timer = setInterval(load, POLL_MS);
}

export const gpu = {
  init() {},
  render(snap) {
    lastSnapshot = snap;
  },
  shown() {
    poll(loadGpu);
  },
  hidden() {
    clearInterval(timer);
  },
  redraw() {},
};
