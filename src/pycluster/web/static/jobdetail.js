// One job in a side drawer at its own address (#/jobs/<id>): facts, actions, pieces with their
// durations, the tracebacks of failed pieces, the result (a table when it is tabular) and the
// job's logs, followed live while it runs.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, h, safeUrl, setText, toast } from "./dom.js";
import { dateTime, duration } from "./format.js";
import { cancelJob, fillForm, jobUrl } from "./jobs.js";

const FINISHED = new Set(["completed", "failed", "cancelled"]);
const ACTIVE = new Set(["pending", "queued", "running"]);
const MAX_LOG_LINES = 5000; // the page keeps the newest; the CLI and the API have them all
const MAX_TABLE_ROWS = 200;
let openId = null;
let lastStatus = null;
let busy = false;
let logs = null; // { source, offset, pre, note, lines }
let returnFocus = null;

// ------------------------------------------------------------------ facts
function fact(label, value) {
  return [h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : String(value ?? "–"))];
}

function json(value) {
  return h("pre", { class: "json", text: JSON.stringify(value, null, 2) });
}

const seconds = (from, to) => (from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null);

/** Runs of the most-tried piece: a completed job that never failed ran once, not "0". */
export function attemptsText(job) {
  if (!job.started_at) return "not started yet";
  const runs = job.status === "failed" && job.attempts > 0 ? job.attempts : job.attempts + 1;
  if (job.attempts === 0) return `1 (no failures; up to ${job.max_retries} retries)`;
  return `${runs} (${job.attempts} failed; up to ${job.max_retries} retries)`;
}

function timing(job) {
  const now = new Date().toISOString();
  const waited = seconds(job.created_at, job.started_at || (ACTIVE.has(job.status) ? now : job.finished_at));
  const ran = job.started_at ? seconds(job.started_at, job.finished_at || now) : null;
  return `waited ${duration(waited)} · ran ${ran === null ? "–" : duration(ran)}`;
}

function facts(job) {
  const pieces = job.pieces_total ? `${job.pieces_done} of ${job.pieces_total}` : "–";
  return h(
    "dl",
    { class: "facts" },
    fact("Status", h("span", { class: `badge ${job.status}`, text: job.status })),
    job.waiting_reason ? fact("Waiting", job.waiting_reason) : [],
    fact("Operation", job.operation),
    fact("Priority", h("span", { class: `badge plain prio-${job.priority}`, text: job.priority })),
    fact("Progress", `${Math.floor(job.progress)}% · pieces ${pieces}`),
    fact("ETA", job.status === "running" && job.eta_seconds !== null ? duration(job.eta_seconds) : "–"),
    fact("Attempts", attemptsText(job)),
    fact("Time", timing(job)),
    fact("Client", job.client_id),
    fact("Dataset", job.dataset_id || "–"),
    fact("Created", dateTime(job.created_at)),
    fact("Started", dateTime(job.started_at)),
    fact("Finished", dateTime(job.finished_at)),
    job.retry_of ? fact("Retry of", h("a", { href: jobUrl(job.retry_of), text: job.retry_of })) : [],
  );
}

// ------------------------------------------------------------------ actions
function actions(job) {
  const python = job.operation.startsWith("python.");
  const buttons = [];
  if (ACTIVE.has(job.status)) {
    const cancel = h("button", { class: "danger small", type: "button", text: "Cancel job" });
    cancel.addEventListener("click", async () => {
      if (await cancelJob(job, cancel)) load(job.job_id);
    });
    buttons.push(cancel);
  }
  if ((job.status === "failed" || job.status === "cancelled") && !python) {
    buttons.push(button("Retry", "primary", () => retry(job)));
  }
  if (!python) buttons.push(button("Clone and edit", "ghost", () => cloneJob(job)));
  if (FINISHED.has(job.status)) buttons.push(button("Delete", "ghost danger-text", () => deleteJob(job)));
  return h("div", { class: "drawer-actions" }, buttons);
}

function button(text, kind, onClick) {
  const b = h("button", { class: `${kind} small`, type: "button", text });
  b.addEventListener("click", onClick);
  return b;
}

async function retry(job) {
  try {
    const answer = await api(`/api/processing/jobs/${encodeURIComponent(job.job_id)}/retry`, { method: "POST" });
    toast(`Submitted ${answer.job_id} again as a retry of ${job.job_id}`);
    window.location.hash = jobUrl(answer.job_id);
  } catch (error) {
    toast(error.message, "bad");
  }
}

function cloneJob(job) {
  closeJob();
  window.location.hash = "#jobs";
  fillForm(job);
}

async function deleteJob(job) {
  const ok = await confirmAction({
    title: `Delete job ${job.job_id}?`,
    message: "Its record, result file and logs are removed for good. Nothing running is stopped.",
    confirmText: "Delete job",
  });
  if (!ok) return;
  try {
    await api(`/api/processing/jobs/${encodeURIComponent(job.job_id)}`, { method: "DELETE" });
    toast(`Deleted ${job.job_id}`);
    closeJob();
  } catch (error) {
    toast(error.message, "bad");
  }
}

// ------------------------------------------------------------------ pieces, tracebacks, result
function piecesTable(pieces) {
  if (!pieces || !pieces.length) return [];
  const rows = pieces.map((p) =>
    h(
      "tr",
      {},
      h("td", { class: "num", text: p.piece }),
      h("td", { class: "num", text: p.attempt + 1 }),
      h("td", {}, h("span", { class: `badge ${outcomeClass(p.outcome)}`, text: p.outcome })),
      h("td", { class: "num", text: p.duration_s === null ? "–" : `${p.duration_s.toFixed(3)} s` }),
    ),
  );
  const head = h("tr", {}, ["Piece", "Run", "Outcome", "Duration"].map((t) => h("th", { text: t })));
  return [
    h("h3", { text: "Pieces" }),
    h("div", { class: "table-wrap drawer-table" }, h("table", { class: "table compact", id: "drawer-pieces" }, h("thead", {}, head), h("tbody", {}, rows))),
  ];
}

const outcomeClass = (outcome) => (outcome === "completed" ? "completed" : outcome === "running" ? "running" : "failed");

function tracebacks(job) {
  const found = job.tracebacks || [];
  if (!found.length) return [];
  return [
    h("h3", { text: "Tracebacks" }),
    ...found.map((t, i) =>
      h(
        "details",
        { class: "traceback", open: i === found.length - 1 },
        h("summary", { text: `Piece ${t.piece}, run ${t.attempt + 1}: ${lastLine(t.text)}` }),
        h("pre", { text: t.text }),
      ),
    ),
  ];
}

const lastLine = (text) => text.trim().split("\n").pop();
const scalar = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

/** A table when the result is tabular (rows of objects or arrays, columns, or flat key/values); else null. */
export function resultTable(value) {
  let columns;
  let rows;
  if (Array.isArray(value) && value.length && value.every((r) => r && typeof r === "object" && !Array.isArray(r))) {
    columns = [...new Set(value.flatMap((r) => Object.keys(r)))];
    rows = value.map((r) => columns.map((c) => r[c]));
  } else if (Array.isArray(value) && value.length && value.every(Array.isArray)) {
    columns = value[0].map((_, i) => String(i));
    rows = value;
  } else if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    const entries = Object.entries(value);
    const lengths = new Set(entries.map(([, v]) => (Array.isArray(v) ? v.length : -1)));
    if (lengths.size === 1 && !lengths.has(-1)) {
      columns = entries.map(([k]) => k);
      rows = entries[0][1].map((_, i) => entries.map(([, v]) => v[i]));
    } else if (entries.every(([, v]) => scalar(v))) {
      columns = ["key", "value"];
      rows = entries;
    }
  }
  if (!columns || columns.length > 30 || !rows.every((r) => r.every(scalar))) return null;
  const body = rows.slice(0, MAX_TABLE_ROWS).map((r) => h("tr", {}, r.map((v) => h("td", { class: typeof v === "number" ? "num" : "", text: v ?? "" }))));
  const table = h("table", { class: "table compact result-table" }, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { text: c })))), h("tbody", {}, body));
  const note = rows.length > MAX_TABLE_ROWS ? h("div", { class: "muted", text: `first ${MAX_TABLE_ROWS} of ${rows.length} rows` }) : [];
  return h("div", { class: "table-wrap drawer-table" }, table, note);
}

function result(job) {
  if (job.status !== "completed") return [];
  const link = job.result_url ? safeUrl(job.result_url) : null;
  if (link) return [h("h3", { text: "Result" }), h("a", { href: link, target: "_blank", rel: "noopener", text: "Download the result" })];
  const table = resultTable(job.result);
  if (!table) return [h("h3", { text: "Result" }), json(job.result)];
  return [h("h3", { text: "Result" }), table, h("details", {}, h("summary", { text: "As JSON" }), json(job.result))];
}

// ------------------------------------------------------------------ logs, followed
function logSection() {
  const pre = h("pre", { class: "logs", id: "drawer-logs", tabindex: "0", "aria-label": "Job logs", "aria-live": "off" });
  const note = h("div", { class: "muted", id: "drawer-logs-note", text: "Reading the logs…" });
  return { pre, note, section: h("div", { class: "logs-section" }, h("h3", { text: "Logs" }), note, pre) };
}

function lineText(e) {
  if (e.piece < 0) return `pycluster: ${e.text}`;
  return `[piece ${e.piece}${e.attempt ? ` run ${e.attempt + 1}` : ""}] ${e.stream}: ${e.text}`;
}

function appendLogs(entries) {
  if (!logs || !entries.length) return;
  const atBottom = logs.pre.scrollHeight - logs.pre.scrollTop - logs.pre.clientHeight < 24;
  for (const e of entries) {
    logs.pre.append(h("span", { class: `log-line ${e.stream}`, text: `${lineText(e)}\n` }));
    logs.lines += 1;
  }
  while (logs.lines > MAX_LOG_LINES) {
    logs.pre.firstChild.remove();
    logs.lines -= 1;
  }
  if (atBottom) logs.pre.scrollTop = logs.pre.scrollHeight;
}

function follow(jobId) {
  if (!logs || openId !== jobId) return;
  const query = new URLSearchParams({ follow: "true", offset: String(logs.offset) });
  const source = new EventSource(`/api/processing/jobs/${encodeURIComponent(jobId)}/logs?${query}`);
  logs.source = source;
  setText(logs.note, "Following: new lines appear as the pieces write them.");
  source.addEventListener("logs", (event) => {
    const page = JSON.parse(event.data);
    logs.offset = page.next_offset;
    appendLogs(page.entries);
  });
  source.addEventListener("end", (event) => {
    source.close();
    const end = JSON.parse(event.data);
    setText(logs.note, logs.lines ? `The job ${end.status}; these are all its logs.` : `The job ${end.status} without writing anything.`);
    if (openId === jobId) load(jobId);
  });
  source.onerror = () => {
    // the browser would reconnect from the start: reconnect from where we are instead
    source.close();
    if (logs && logs.source === source && openId === jobId) {
      setText(logs.note, "The log stream was interrupted; reconnecting…");
      setTimeout(() => logs && logs.source === source && follow(jobId), 2000);
    }
  };
}

function stopFollowing() {
  if (logs && logs.source) logs.source.close();
  logs = null;
}

// ------------------------------------------------------------------ the drawer
function render(job, pieces) {
  setText("drawer-title", job.job_id);
  const summary = [
    facts(job),
    actions(job),
    ...tracebacks(job),
    ...piecesTable(pieces),
    ...(job.error ? [h("h3", { text: "Error" }), h("pre", { text: job.error })] : []),
    ...result(job),
    h("h3", { text: "Parameters" }),
    json(job.parameters),
  ];
  $("drawer-summary").replaceChildren(...summary);
}

async function load(jobId) {
  if (busy) return;
  busy = true;
  try {
    const base = `/api/processing/jobs/${encodeURIComponent(jobId)}`;
    const [job, stored] = await Promise.all([api(`${base}/status`), api(`${base}/logs?offset=${2 ** 52}`)]);
    if (openId === jobId) {
      lastStatus = job.status;
      render(job, stored.pieces);
    }
  } catch (error) {
    if (openId === jobId) $("drawer-summary").replaceChildren(h("div", { class: "form-error", text: error.message }));
  } finally {
    busy = false;
  }
}

export function openJob(jobId) {
  if (openId === jobId) return;
  stopFollowing();
  if (!openId) returnFocus = document.activeElement;
  openId = jobId;
  lastStatus = null;
  setText("drawer-title", jobId);
  logs = { ...logSection(), offset: 0, lines: 0, source: null };
  $("drawer-body").replaceChildren(h("div", { id: "drawer-summary" }, h("div", { class: "muted", text: "Loading…" })), logs.section);
  $("job-drawer").hidden = false;
  $("drawer-backdrop").hidden = false;
  $("drawer-close").focus();
  load(jobId);
  follow(jobId);
}

export function closeJob() {
  if (!openId) return;
  stopFollowing();
  openId = null;
  $("job-drawer").hidden = true;
  $("drawer-backdrop").hidden = true;
  if (window.location.hash.startsWith("#/jobs/")) history.pushState(null, "", "#jobs");
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

/** Called on every snapshot: an open, unfinished job is read again. */
export function refreshOpenJob() {
  if (openId && !FINISHED.has(lastStatus)) load(openId);
}

$("drawer-close").addEventListener("click", closeJob);
$("drawer-backdrop").addEventListener("click", closeJob);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && openId && !document.querySelector("dialog[open]")) closeJob();
});
