// Jobs: every stored job a page at a time (the server pages, searches and filters), submit, cancel.
//
// Each row links to the job's own address, #/jobs/<id>, which opens its drawer; the link and
// the Cancel button are reachable by Tab, and ArrowUp/ArrowDown move between rows.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, h, meter, setMeter, setText, syncRows, toast } from "./dom.js";
import { clock, duration, number, shortId } from "./format.js";
import { refreshOpenJob } from "./jobdetail.js";

const ACTIVE = new Set(["pending", "queued", "running"]);
const PRIORITY = { CRITICAL: 3, HIGH: 2, NORMAL: 1, LOW: 0 };
const PAGE_SIZE = 25;
const REFRESH_MS = 2000; // while the tab shows, the page is read again at most this often
const rows = new Map();
const view = { offset: 0, q: "", status: "all", total: 0 };
let operations = [];
let context;
let loading = null;
let lastLoad = 0;
let visible = false;

export const jobUrl = (jobId) => `#/jobs/${encodeURIComponent(jobId)}`;

// ------------------------------------------------------------------ the page of jobs
function listUrl() {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(view.offset) });
  if (view.status !== "all") query.set("status", view.status === "queued" ? "pending,queued" : view.status);
  if (view.q) query.set("q", view.q);
  return `/api/processing/jobs/list?${query}`;
}

/** Read the current page from the server (one request at a time; a newer wish wins). */
async function load() {
  if (loading) return loading;
  lastLoad = Date.now();
  const url = listUrl();
  loading = api(url)
    .then((answer) => {
      if (url === listUrl()) showPage(answer);
      else setTimeout(load); // the filter changed while this one was under way
    })
    .catch((error) => setText("jobs-note", `Jobs are not available: ${error.message}`))
    .finally(() => {
      loading = null;
    });
  return loading;
}

function showPage(answer) {
  view.total = answer.total;
  if (answer.jobs.length === 0 && view.offset > 0 && answer.total > 0) {
    view.offset = Math.max(0, Math.floor((answer.total - 1) / PAGE_SIZE) * PAGE_SIZE); // the page emptied
    load();
    return;
  }
  syncRows($("jobs-body"), rows, answer.jobs, (j) => j.job_id, createRow, updateRow);
  $("jobs-table").hidden = answer.jobs.length === 0;
  $("jobs-empty").hidden = answer.jobs.length !== 0;
  const filtered = view.q || view.status !== "all";
  setText("jobs-empty-title", filtered ? "No jobs match" : "No jobs yet");
  setText("jobs-empty-text", filtered ? "Change the search or the status filter." : "Submit one with the form.");
  const first = answer.total ? view.offset + 1 : 0;
  const last = view.offset + answer.jobs.length;
  setText("jobs-range", answer.total ? `${number(first)}-${number(last)} of ${number(answer.total)}` : "");
  $("jobs-prev").disabled = view.offset === 0;
  $("jobs-next").disabled = last >= answer.total;
  setText("jobs-note", "");
}

function createRow(job) {
  const r = {
    link: h("a", { class: "cell-main mono job-link", href: jobUrl(job.job_id) }),
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
    cancelJob(r.job, r.cancel);
  });
  r.tr = h(
    "tr",
    { class: "clickable", dataset: { jobId: job.job_id } },
    h("td", { "data-label": "Job" }, h("div", {}, r.link, r.created)),
    h("td", { "data-label": "Operation" }, r.operation),
    h("td", { "data-label": "Priority" }, r.priority),
    h("td", { "data-label": "Status" }, r.status),
    h("td", { "data-label": "Progress", class: "progress-col" }, r.progress),
    h("td", { "data-label": "ETA" }, r.eta),
    h("td", { "data-label": "", class: "actions" }, r.cancel),
  );
  r.tr.addEventListener("click", (event) => {
    if (!event.target.closest("a, button")) window.location.hash = jobUrl(job.job_id);
  });
  return r;
}

function updateRow(r, job) {
  r.job = job;
  setText(r.link, shortId(job.job_id));
  r.link.setAttribute("aria-label", `Job ${job.job_id}, ${job.operation}, ${job.status}`);
  setText(r.operation, job.operation);
  setText(r.priority, job.priority);
  r.priority.className = `badge plain prio-${job.priority}`;
  setText(r.status, job.status);
  r.status.className = `badge ${job.status}`;
  r.status.title = job.waiting_reason || "";
  const progress = Number(job.progress) || 0;
  setMeter(r.meter, progress, 101, 101);
  r.progress.classList.toggle("done", job.status === "completed");
  r.progress.classList.toggle("failed", job.status === "failed");
  setText(r.pct, `${Math.floor(progress)}%`);
  setText(r.eta, job.status === "running" && job.eta_seconds !== null ? `~${duration(job.eta_seconds)}` : "–");
  setText(r.created, `created ${clock(job.created_at)}`);
  r.cancel.hidden = !ACTIVE.has(job.status);
  r.cancel.setAttribute("aria-label", `Cancel job ${job.job_id}`);
}

/** ArrowDown/ArrowUp on a row's link or button: the same control in the next or previous row. */
function moveBetweenRows(event) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const row = event.target.closest("tr");
  if (!row) return;
  const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
  const link = next && next.querySelector(".job-link");
  if (link) {
    event.preventDefault();
    link.focus();
  }
}

// ------------------------------------------------------------------ cancel (confirmed)
/** What cancelling ``job`` stops, in words, for the confirmation. */
export function cancelMessage(job) {
  if (job.status === "running") {
    const pieces = job.pieces_total ? ` ${job.pieces_done} of its ${job.pieces_total} pieces are done;` : "";
    return `It is running (${Math.floor(Number(job.progress) || 0)}%).${pieces} its running pieces are stopped (the worker processes running them restart) and the rest never run. Its progress is lost; Retry starts it again from the beginning.`;
  }
  return "It has not started: it leaves the queue and never runs. Retry submits it again.";
}

export async function cancelJob(job, button) {
  const ok = await confirmAction({
    title: `Cancel job ${job.job_id} (${job.operation})?`,
    message: cancelMessage(job),
    confirmText: "Cancel job",
  });
  if (!ok) return false;
  if (button) button.disabled = true;
  try {
    await api(`/api/processing/jobs/${encodeURIComponent(job.job_id)}/cancel`, { method: "POST" });
    toast(`Cancelled ${job.job_id}`);
    context.refresh();
    load();
    return true;
  } catch (error) {
    toast(error.message, "bad");
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------------ chips and live updates
function renderChips(jobsView) {
  const t = jobsView.totals || {};
  const waiting = Object.entries(jobsView.waiting_by_priority || {})
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
  chips.push(h("span", { class: "chip", text: `${jobsView.max_concurrent_jobs} at a time` }));
  $("job-chips").replaceChildren(...chips);
}

export function render(snap) {
  const jobsView = snap.jobs;
  if (!jobsView) {
    $("jobs-empty").hidden = false;
    setText("jobs-note", "This head runs without a job queue.");
    return;
  }
  renderChips(jobsView);
  if (visible && Date.now() - lastLoad >= REFRESH_MS) load();
  refreshOpenJob();
}

// ------------------------------------------------------------------ submit, clone
async function loadOperations() {
  try {
    operations = (await api("/api/processing/operations")).operations;
  } catch (error) {
    setText("job-form-error", `Operations are not available: ${error.message}`);
    return;
  }
  const select = $("job-operation");
  const chosen = select.value;
  select.replaceChildren(...operations.map((op) => h("option", { value: op.name, text: op.name })));
  if (chosen && operations.some((op) => op.name === chosen)) select.value = chosen;
  else showOperation();
}

function showOperation() {
  const op = operations.find((o) => o.name === $("job-operation").value);
  setText("job-operation-help", op ? op.description : "");
  $("job-parameters").value = JSON.stringify(op ? op.example : {}, null, 2);
}

/** Clone and edit: the form takes a job's operation, parameters and priority, ready to change. */
export function fillForm(job) {
  const select = $("job-operation");
  if (![...select.options].some((o) => o.value === job.operation)) {
    select.append(h("option", { value: job.operation, text: job.operation }));
  }
  select.value = job.operation;
  const op = operations.find((o) => o.name === job.operation);
  setText("job-operation-help", op ? op.description : "");
  $("job-parameters").value = JSON.stringify(job.parameters || {}, null, 2);
  $("job-priority").value = job.priority;
  setText("job-form-error", "");
  setText("job-form-note", `Cloned from ${job.job_id}: edit, then submit.`);
  $("job-parameters").focus();
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
    setText("job-form-note", "");
    context.refresh();
    load();
  } catch (error) {
    setText("job-form-error", error.message);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ filters and paging
let searchTimer = null;

function filtersChanged() {
  view.status = $("job-filter").value;
  view.q = $("job-search").value.trim();
  view.offset = 0;
  load();
}

function page(step) {
  view.offset = Math.max(0, view.offset + step * PAGE_SIZE);
  load();
}

export function init(ctx) {
  context = ctx;
  $("job-operation").addEventListener("change", showOperation);
  $("job-form").addEventListener("submit", submit);
  $("job-filter").addEventListener("change", filtersChanged);
  $("job-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(filtersChanged, 300);
  });
  $("jobs-prev").addEventListener("click", () => page(-1));
  $("jobs-next").addEventListener("click", () => page(1));
  $("jobs-body").addEventListener("keydown", moveBetweenRows);
  loadOperations();
}

export function shown() {
  visible = true;
  load();
}

export function hidden() {
  visible = false;
}

export function redraw() {}
