// Workers: one live row per worker; a worker that leaves disappears, one that joins appears.
// A worker's name opens its detail: uptime, memory as Dask splits it, recent logs, restart/retire.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, h, meter, setMeter, setText, syncRows, toast } from "./dom.js";
import { bytes, duration, number, percent } from "./format.js";

const rows = new Map();
const DETAIL_EVERY_MS = 5000;
let selected = null; // the address whose detail is open
let detailTimer = null;

function cell(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

function createRow(worker) {
  const r = {
    name: h("button", { class: "link-button cell-main", type: "button", title: "Show this worker's detail and logs" }),
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
  r.name.addEventListener("click", () => openDetail(worker.address));
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
  // a meter's style is set only when its value moved: with 200 workers, rewriting 400 inline
  // styles every tick made the browser recompute the whole table's style each time
  if (r.cpu !== w.cpu_percent) setMeter(r.cpuMeter, (r.cpu = w.cpu_percent));
  setText(r.cpuText, percent(w.cpu_percent));
  if (r.mem !== w.memory_usage) setMeter(r.memMeter, (r.mem = w.memory_usage));
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

export function init(ctx) {
  $("wd-close").addEventListener("click", closeDetail);
  $("wd-restart").addEventListener("click", () => act("restart", ctx));
  $("wd-retire").addEventListener("click", () => act("retire", ctx));
  document.addEventListener("visibilitychange", () => selected && !document.hidden && loadDetail());
}

export function shown() {
  if (selected) loadDetail();
}

export function hidden() {
  clearTimeout(detailTimer);
}

export function redraw() {}

function openDetail(address) {
  selected = address;
  $("worker-detail").hidden = false;
  setText("wd-name", rows.get(address) ? rows.get(address).name.textContent : address);
  setText("wd-address", address);
  setText("wd-logs", "loading…");
  loadDetail();
  $("worker-detail").scrollIntoView({ block: "nearest" });
}

function closeDetail() {
  selected = null;
  clearTimeout(detailTimer);
  $("worker-detail").hidden = true;
}

async function loadDetail() {
  clearTimeout(detailTimer);
  const address = selected;
  if (!address || document.hidden) return;
  const query = `address=${encodeURIComponent(address)}`;
  try {
    const [detail, logs] = await Promise.all([api(`/api/dashboard/workers/detail?${query}`), api(`/api/dashboard/workers/logs?${query}&n=60`)]);
    if (address !== selected) return;
    renderDetail(detail);
    setText("wd-logs", logs.lines.map((l) => l.message).join("\n") || "no log lines yet");
  } catch (error) {
    if (address !== selected) return;
    setText("wd-uptime", error.status === 404 ? "this worker has left the cluster" : error.message);
  }
  if (selected === address) detailTimer = setTimeout(loadDetail, DETAIL_EVERY_MS);
}

function renderDetail(d) {
  setText("wd-uptime", d.uptime_seconds === null ? "joined before the head's monitoring started" : duration(d.uptime_seconds));
  const m = d.memory;
  const limit = m.limit || m.process || 1;
  const [managed, unmanaged, spilled] = $("wd-memory-bar").children;
  managed.style.width = `${Math.min(100, (100 * m.managed) / limit)}%`;
  unmanaged.style.width = `${Math.min(100, (100 * m.unmanaged) / limit)}%`;
  spilled.style.width = `${Math.min(100, (100 * m.spilled) / limit)}%`;
  const of = m.limit ? ` of ${bytes(m.limit)}` : "";
  setText("wd-memory", `managed ${bytes(m.managed)} · unmanaged ${bytes(m.unmanaged)} · spilled to disk ${bytes(m.spilled)} · process ${bytes(m.process)}${of}`);
  setText("wd-tasks", `${number(d.executing)} executing · ${number(d.in_memory)} results held · ${d.nthreads} thread${d.nthreads === 1 ? "" : "s"}`);
}

async function act(action, ctx) {
  const address = selected;
  if (!address) return;
  const consequence =
    action === "restart"
      ? "Its running tasks stop and run again elsewhere; the results it holds are computed again. A fresh worker process takes its place."
      : "Its results move to other workers, then it closes for good. It is not started again.";
  const verb = action === "restart" ? "Restart" : "Retire";
  if (!(await confirmAction({ title: `${verb} worker ${address}?`, message: consequence, confirmText: verb }))) return;
  try {
    const answer = await api(`/api/dashboard/workers/${action}`, { method: "POST", body: { address } });
    toast(`${address}: ${answer.result}`);
    closeDetail();
    ctx.refresh();
  } catch (error) {
    toast(error.message, "bad");
  }
}
