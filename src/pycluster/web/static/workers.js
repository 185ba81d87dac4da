// Workers: one live row per worker; a worker that leaves disappears, one that joins appears.

import { $, h, meter, setMeter, setText, syncRows } from "./dom.js";
import { bytes, number, percent } from "./format.js";

const rows = new Map();

function cell(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

function createRow(worker) {
  const r = {
    name: h("div", { class: "cell-main" }),
    address: h("div", { class: "cell-sub" }),
    host: h("span"),
    status: h("span", { class: "badge" }),
    threads: h("span"),
    cpuMeter: meter(),
    cpuText: h("span", { class: "txt" }),
    memMeter: meter(),
    memText: h("span", { class: "txt" }),
    executing: h("span"),
    ready: h("span"),
    resources: h("span"),
  };
  r.tr = h(
    "tr",
    { dataset: { address: worker.address } },
    cell("Name", r.name, r.address),
    cell("Host", r.host),
    cell("Status", r.status),
    h("td", { class: "num", "data-label": "Threads" }, r.threads),
    cell("CPU", h("div", { class: "bar-cell" }, r.cpuMeter, r.cpuText)),
    cell("Memory", h("div", { class: "bar-cell" }, r.memMeter, r.memText)),
    h("td", { class: "num", "data-label": "Executing" }, r.executing),
    h("td", { class: "num", "data-label": "Ready" }, r.ready),
    cell("Resources", r.resources),
  );
  return r;
}

function updateRow(r, w) {
  setText(r.name, w.name);
  setText(r.address, w.name === w.address ? "" : w.address);
  setText(r.host, w.host);
  setText(r.status, w.status);
  r.status.className = `badge ${w.status === "running" ? "ok" : "warning"}`;
  setText(r.threads, number(w.nthreads));
  setMeter(r.cpuMeter, w.cpu_percent);
  setText(r.cpuText, percent(w.cpu_percent));
  setMeter(r.memMeter, w.memory_usage);
  setText(r.memText, `${bytes(w.memory_used)} / ${w.memory_limit ? bytes(w.memory_limit) : "no limit"}`);
  setText(r.executing, number(w.tasks_executing));
  setText(r.ready, number(w.tasks_ready));
  const resources = Object.entries(w.resources || {}).map(([k, v]) => `${k}=${v}`);
  setText(r.resources, resources.length ? resources.join(", ") : "—");
}

export function render(snap) {
  const workers = snap.workers || [];
  syncRows($("workers-body"), rows, workers, (w) => w.address, createRow, updateRow);
  const c = snap.cluster || {};
  setText("workers-summary", `${workers.length} worker${workers.length === 1 ? "" : "s"} · ${number(c.total_cores)} threads · ${bytes(c.used_memory_bytes)} of ${bytes(c.total_memory_bytes)} memory`);
  $("workers-table").hidden = workers.length === 0;
  $("workers-empty").hidden = workers.length !== 0;
  if (c.worker_command) setText("workers-empty-command", c.worker_command);
}

export function init() {}
export function shown() {}
export function redraw() {}
