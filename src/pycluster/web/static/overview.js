// Overview: status cards, throughput, CPU/memory and network charts, how to connect, uptime.
// The GPU card reads GET /api/llm/gpu/status itself (the live stream carries no GPU readings),
// every GPU_POLL_MS while the tab is shown.

import { api } from "./api.js";
import { timeChart } from "./charts.js";
import { $, copyText, h, safeUrl, setMeter, setText, toast } from "./dom.js";
import { bytes, duration, gibOf, number, percent, rate } from "./format.js";
import { state, windowSamples } from "./state.js";

let charts = [];
const GPU_POLL_MS = 5000;
let gpuTimer = null;

export function init() {
  const windowSeconds = () => state.windowSeconds;
  charts = [
    timeChart($("chart-throughput"), windowSamples, [{ name: "tasks/s", y: (s) => s.tasks_per_second, color: "accent", fill: true }], {
      windowSeconds,
    }),
    timeChart(
      $("chart-usage"),
      windowSamples,
      [
        { name: "CPU", y: (s) => s.cpu_percent, color: "accent" },
        { name: "Memory", y: (s) => s.memory_usage_percent, color: "teal" },
      ],
      { yMax: 100, ySuffix: "%", windowSeconds },
    ),
    // bytes in/out per second, from the workers' host network counters (each host counted once)
    timeChart(
      $("chart-overview-network"),
      windowSamples,
      [
        { name: "in", y: (s) => s.network_read_bps / 1e6, color: "info", fill: true },
        { name: "out", y: (s) => s.network_write_bps / 1e6, color: "warn" },
      ],
      { ySuffix: " MB/s", windowSeconds },
    ),
  ];
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).textContent;
      try {
        await copyText(text);
        toast("Copied to the clipboard");
      } catch {
        toast("Could not copy: select the text and copy it by hand", "bad");
      }
    });
  }
}

export function render(snap, { samplesChanged }) {
  const c = snap.cluster || {};
  const health = $("card-health");
  health.dataset.health = c.health || "stopped";
  setText(health.querySelector(".v"), c.health || "stopped");
  setText("uptime", c.uptime_seconds === undefined ? "–" : duration(c.uptime_seconds));
  setText($("card-workers").querySelector(".v"), number(c.n_workers));
  setText($("card-cores").querySelector(".v"), number(c.total_cores));
  const memory = $("card-memory");
  setText(memory.querySelector(".v"), c.used_memory_bytes === undefined ? "–" : bytes(c.used_memory_bytes));
  setText(memory.querySelector(".total"), c.total_memory_bytes === undefined ? "–" : `${bytes(c.total_memory_bytes)} (${percent(c.memory_usage_percent)})`);
  setMeter(memory.querySelector(".meter"), c.memory_usage_percent);
  const tasks = snap.tasks || {};
  setText($("card-tasks").querySelector(".v"), number(tasks.running ?? c.active_tasks));
  setText($("card-tasks").querySelector(".pending"), number(tasks.pending ?? c.ready_tasks));
  const totals = (snap.jobs && snap.jobs.totals) || {};
  setText($("card-jobs").querySelector(".v"), number((totals.queued || 0) + (totals.pending || 0)));
  setText($("card-jobs").querySelector(".running"), number(totals.running || 0));
  renderConnection(c, snap.version);
  const last = snap.metrics && snap.metrics[snap.metrics.length - 1];
  if (last) setText("overview-network-now", `in ${rate(last.network_read_bps)} · out ${rate(last.network_write_bps)}`);
  if (samplesChanged) for (const chart of charts) chart.draw();
}

function renderConnection(c, version) {
  setText("info-scheduler", c.scheduler_address || "not running");
  setText("info-worker-command", c.worker_command || "–");
  setText("info-dashboard", c.dashboard_url || window.location.origin);
  setText("info-version", version ? `pycluster ${version}` : "–");
  const dask = $("info-dask");
  const url = c.dask_dashboard_url ? safeUrl(c.dask_dashboard_url) : null;
  const current = dask.firstElementChild;
  if (url && !(current && current.getAttribute("href") === url)) {
    dask.replaceChildren(h("a", { href: url, target: "_blank", rel: "noopener", id: "dask-link", text: "Open Dask's own diagnostics ↗" }));
  } else if (!url && dask.textContent !== "off") {
    dask.replaceChildren("off");
  }
}

/** The GPU card: how many GPUs, their average utilization and memory used of total. */
export function renderGpuCard(summary) {
  const card = $("card-gpu");
  const gpus = summary && summary.available ? summary.gpus || [] : [];
  const busy = gpus.map((g) => g.utilization).filter((u) => u !== null && u !== undefined);
  const average = busy.length ? busy.reduce((a, b) => a + b, 0) / busy.length : null;
  const sum = (key) => gpus.reduce((total, g) => total + (Number(g[key]) || 0), 0);
  card.dataset.available = String(gpus.length > 0);
  setText(card.querySelector(".v"), gpus.length ? number(gpus.length) : "none");
  setMeter(card.querySelector(".meter"), average);
  card.querySelector(".meter").hidden = !gpus.length;
  setText(
    card.querySelector(".stat-sub"),
    gpus.length ? `${percent(average)} busy · ${gibOf(sum("memory_used"), sum("memory_total"))}` : "no NVIDIA GPU on any worker",
  );
  card.title = gpus.length ? "" : (summary && summary.reason) || "";
}

async function loadGpu() {
  if (document.hidden) return; // a background tab asks nothing
  try {
    renderGpuCard((await api("/api/llm/gpu/status?history=0")).summary);
  } catch {
    renderGpuCard(null); // a head without the GPU service (404), or one going away
  }
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
}
