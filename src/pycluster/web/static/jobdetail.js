// One job in a side drawer: parameters, attempts, error, result; refreshed while it runs.

import { api } from "./api.js";
import { $, h, safeUrl, setText } from "./dom.js";
import { dateTime, duration } from "./format.js";

const FINISHED = new Set(["completed", "failed", "cancelled"]);
let openId = null;
let lastStatus = null;
let busy = false;

function fact(label, value) {
  return [h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : String(value ?? "–"))];
}

function json(value) {
  return h("pre", { class: "json", text: JSON.stringify(value, null, 2) });
}

function render(job) {
  setText("drawer-title", job.job_id);
  const attempts = `${job.attempts} (up to ${job.max_retries} retries)`;
  const pieces = job.pieces_total ? `${job.pieces_done} of ${job.pieces_total}` : "–";
  const body = [
    h(
      "dl",
      { class: "facts" },
      fact("Status", h("span", { class: `badge ${job.status}`, text: job.status })),
      fact("Operation", job.operation),
      fact("Priority", h("span", { class: `badge plain prio-${job.priority}`, text: job.priority })),
      fact("Progress", `${Math.floor(job.progress)}% · pieces ${pieces}`),
      fact("ETA", job.status === "running" && job.eta_seconds !== null ? duration(job.eta_seconds) : "–"),
      fact("Attempts", attempts),
      fact("Client", job.client_id),
      fact("Dataset", job.dataset_id || "–"),
      fact("Created", dateTime(job.created_at)),
      fact("Started", dateTime(job.started_at)),
      fact("Finished", dateTime(job.finished_at)),
    ),
    h("h3", { text: "Parameters" }),
    json(job.parameters),
  ];
  if (job.error) body.push(h("h3", { text: "Error" }), h("pre", { text: job.error }));
  if (job.status === "completed") {
    body.push(h("h3", { text: "Result" }));
    const link = job.result_url ? safeUrl(job.result_url) : null;
    body.push(link ? h("a", { href: link, target: "_blank", rel: "noopener", text: "Download the result" }) : json(job.result));
  }
  $("drawer-body").replaceChildren(...body);
}

async function load(jobId) {
  if (busy) return;
  busy = true;
  try {
    const job = await api(`/api/processing/jobs/${encodeURIComponent(jobId)}/status`);
    if (openId === jobId) {
      lastStatus = job.status;
      render(job);
    }
  } catch (error) {
    if (openId === jobId) $("drawer-body").replaceChildren(h("div", { class: "form-error", text: error.message }));
  } finally {
    busy = false;
  }
}

export function openJob(jobId) {
  openId = jobId;
  lastStatus = null;
  setText("drawer-title", jobId);
  $("drawer-body").replaceChildren(h("div", { class: "muted", text: "Loading…" }));
  $("job-drawer").hidden = false;
  $("drawer-backdrop").hidden = false;
  load(jobId);
}

export function closeJob() {
  openId = null;
  $("job-drawer").hidden = true;
  $("drawer-backdrop").hidden = true;
}

/** Called on every snapshot: an open, unfinished job is read again. */
export function refreshOpenJob() {
  if (openId && !FINISHED.has(lastStatus)) load(openId);
}

$("drawer-close").addEventListener("click", closeJob);
$("drawer-backdrop").addEventListener("click", closeJob);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && openId) closeJob();
});
