// Jobs: the queue by priority with progress and ETA, a status filter, submit and cancel.

import { api } from "./api.js";
import { $, h, meter, setMeter, setText, syncRows, toast } from "./dom.js";
import { clock, duration, number, shortId } from "./format.js";
import { openJob, refreshOpenJob } from "./jobdetail.js";

const ACTIVE = new Set(["pending", "queued", "running"]);
const STAGE = { running: 0, queued: 1, pending: 1, completed: 2, failed: 2, cancelled: 2 };
const PRIORITY = { CRITICAL: 3, HIGH: 2, NORMAL: 1, LOW: 0 };
const rows = new Map();
let operations = [];
let context;
let lastSnapshot = null;

/** Running first, then waiting jobs by priority (oldest first), then finished ones (newest first). */
function byQueueOrder(a, b) {
  const stage = STAGE[a.status] - STAGE[b.status];
  if (stage) return stage;
  if (ACTIVE.has(a.status)) return PRIORITY[b.priority] - PRIORITY[a.priority] || a.created_at.localeCompare(b.created_at);
  return b.created_at.localeCompare(a.created_at);
}

function matches(job, filter) {
  if (filter === "all") return true;
  if (filter === "active") return ACTIVE.has(job.status);
  if (filter === "queued") return job.status === "queued" || job.status === "pending";
  return job.status === filter;
}

function createRow(job) {
  const r = {
    id: h("div", { class: "cell-main mono" }),
    created: h("div", { class: "cell-sub" }),
    operation: h("span"),
    priority: h("span", { class: "badge plain" }),
    status: h("span", { class: "badge" }),
    meter: meter(),
    pct: h("span", { class: "pct" }),
    eta: h("span"),
    cancel: h("button", { class: "ghost small cancel", type: "button", text: "Cancel" }),
  };
  r.progress = h("div", { class: "progress" }, r.meter, r.pct);
  r.cancel.addEventListener("click", (event) => {
    event.stopPropagation();
    cancelJob(job.job_id, r.cancel);
  });
  r.tr = h(
    "tr",
    { class: "clickable", dataset: { jobId: job.job_id }, title: "Show details" },
    h("td", { "data-label": "Job" }, h("div", {}, r.id, r.created)),
    h("td", { "data-label": "Operation" }, r.operation),
    h("td", { "data-label": "Priority" }, r.priority),
    h("td", { "data-label": "Status" }, r.status),
    h("td", { "data-label": "Progress", class: "progress-col" }, r.progress),
    h("td", { "data-label": "ETA" }, r.eta),
    h("td", { "data-label": "", class: "actions" }, r.cancel),
  );
  r.tr.addEventListener("click", () => openJob(job.job_id));
  return r;
}

function updateRow(r, job) {
  setText(r.id, shortId(job.job_id));
  setText(r.operation, job.operation);
  setText(r.priority, job.priority);
  r.priority.className = `badge plain prio-${job.priority}`;
  setText(r.status, job.status);
  r.status.className = `badge ${job.status}`;
  const progress = Number(job.progress) || 0;
  setMeter(r.meter, progress, 101, 101);
  r.progress.classList.toggle("done", job.status === "completed");
  r.progress.classList.toggle("failed", job.status === "failed");
  setText(r.pct, `${Math.floor(progress)}%`);
  r.progress.title = job.pieces_total ? `${job.pieces_done} of ${job.pieces_total} pieces` : "";
  setText(r.eta, job.status === "running" && job.eta_seconds !== null ? `~${duration(job.eta_seconds)}` : "–");
  setText(r.created, `created ${clock(job.created_at)}`);
  r.cancel.hidden = !ACTIVE.has(job.status);
  r.cancel.setAttribute("aria-label", `Cancel job ${job.job_id}`);
}

async function cancelJob(jobId, button) {
  button.disabled = true;
  try {
    await api(`/api/processing/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
    toast(`Cancelled ${jobId}`);
    context.refresh();
  } catch (error) {
    toast(error.message, "bad");
  } finally {
    button.disabled = false;
  }
}

function renderChips(view) {
  const t = view.totals || {};
  const waiting = Object.entries(view.waiting_by_priority || {})
    .filter(([, n]) => n)
    .sort((a, b) => PRIORITY[b[0]] - PRIORITY[a[0]])
    .map(([p, n]) => `${p} ${n}`);
  const chips = [
    ["queued", (t.queued || 0) + (t.pending || 0)],
    ["running", t.running || 0],
    ["completed", t.completed || 0],
    ["failed", t.failed || 0],
    ["cancelled", t.cancelled || 0],
  ].map(([label, n]) => h("span", { class: "chip" }, h("b", { text: number(n) }), ` ${label}`));
  if (waiting.length) chips.push(h("span", { class: "chip", text: `waiting: ${waiting.join(" · ")}` }));
  chips.push(h("span", { class: "chip", text: `${view.max_concurrent_jobs} at a time` }));
  $("job-chips").replaceChildren(...chips);
}

export function render(snap) {
  lastSnapshot = snap;
  const view = snap.jobs;
  if (!view) {
    $("jobs-empty").hidden = false;
    setText("jobs-note", "This head runs without a job queue.");
    return;
  }
  const filter = $("job-filter").value;
  const jobs = view.jobs.filter((j) => matches(j, filter)).sort(byQueueOrder);
  syncRows($("jobs-body"), rows, jobs, (j) => j.job_id, createRow, updateRow);
  $("jobs-table").hidden = jobs.length === 0;
  $("jobs-empty").hidden = jobs.length !== 0;
  renderChips(view);
  setText("jobs-note", view.total > view.jobs.length ? `Showing the ${view.jobs.length} newest of ${number(view.total)} jobs; GET /api/processing/jobs/list pages through all.` : "");
  refreshOpenJob();
}

async function loadOperations() {
  try {
    operations = (await api("/api/processing/operations")).operations;
  } catch (error) {
    setText("job-form-error", `Operations are not available: ${error.message}`);
    return;
  }
  const select = $("job-operation");
  select.replaceChildren(...operations.map((op) => h("option", { value: op.name, text: op.name })));
  showOperation();
}

function showOperation() {
  const op = operations.find((o) => o.name === $("job-operation").value);
  setText("job-operation-help", op ? op.description : "");
  $("job-parameters").value = JSON.stringify(op ? op.example : {}, null, 2);
}

async function submit(event) {
  event.preventDefault();
  setText("job-form-error", "");
  let parameters;
  try {
    parameters = JSON.parse($("job-parameters").value || "{}");
  } catch (error) {
    setText("job-form-error", `Parameters are not valid JSON: ${error.message}`);
    return;
  }
  const button = $("job-submit");
  button.disabled = true;
  try {
    const body = { operation: $("job-operation").value, parameters, priority: $("job-priority").value };
    const answer = await api("/api/processing/jobs/submit", { method: "POST", body });
    toast(`Submitted ${answer.job_id}`);
    context.refresh();
  } catch (error) {
    setText("job-form-error", error.message);
  } finally {
    button.disabled = false;
  }
}

export function init(ctx) {
  context = ctx;
  $("job-operation").addEventListener("change", showOperation);
  $("job-form").addEventListener("submit", submit);
  $("job-filter").addEventListener("change", () => lastSnapshot && render(lastSnapshot));
  loadOperations();
}

export function shown() {}
export function redraw() {}
