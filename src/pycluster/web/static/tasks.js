// Tasks: completed / running / pending / failed, throughput per interval, recent failures;
// the task stream and durations by function; start/stop of the job queue's dispatch.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { barChart, donutChart } from "./charts.js";
import { $, h, setText, toast } from "./dom.js";
import { clock, number } from "./format.js";
import { state, windowSamples } from "./state.js";
import * as stream from "./taskstream.js";

let pie;
let bars;
let counts = [0, 0, 0, 0];
let failureKeys = "";

/** Tasks completed in each sampling interval, from the running total. */
function perInterval() {
  const samples = windowSamples();
  const x = [];
  const y = [];
  for (let i = 1; i < samples.length; i += 1) {
    x.push(samples[i].timestamp);
    y.push(Math.max(0, (samples[i].tasks_completed_total || 0) - (samples[i - 1].tasks_completed_total || 0)));
  }
  return { x, y };
}

export function init(ctx) {
  stream.init();
  $("dispatch-pause").addEventListener("click", () => setDispatch("pause", ctx));
  $("dispatch-resume").addEventListener("click", () => setDispatch("resume", ctx));
  pie = donutChart($("chart-task-pie"), () => counts);
  bars = barChart($("chart-task-bars"), perInterval, { windowSeconds: () => state.windowSeconds, name: "tasks" });
  $("clear-failed").addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "Clear failed tasks?",
      message: "The list of recent failures and the failed count are emptied. Nothing running is stopped; the failures cannot be shown again.",
      confirmText: "Clear failed",
    });
    if (!ok) return;
    try {
      const { cleared } = await api("/api/dashboard/tasks/clear-failed", { method: "POST" });
      toast(`Cleared ${cleared} failed task${cleared === 1 ? "" : "s"}`);
      ctx.refresh();
    } catch (error) {
      toast(error.message, "bad");
    }
  });
}

export function render(snap, { samplesChanged }) {
  const t = snap.tasks || { completed: 0, running: 0, pending: 0, failed: 0, recent_failures: [] };
  const next = [t.completed, t.running, t.pending, t.failed];
  setText($("task-completed").querySelector(".v"), number(t.completed));
  setText($("task-running").querySelector(".v"), number(t.running));
  setText($("task-pending").querySelector(".v"), number(t.pending));
  setText($("task-failed").querySelector(".v"), number(t.failed));
  if (next.join() !== counts.join()) {
    counts = next;
    pie.draw();
  }
  if (samplesChanged) bars.draw();
  renderFailures(t.recent_failures || []);
  renderDispatch(snap.jobs);
}

async function setDispatch(action, ctx) {
  if (action === "pause") {
    const ok = await confirmAction({
      title: "Pause the job queue?",
      message: "No queued job will start until you resume it. Running jobs go on.",
      confirmText: "Pause",
    });
    if (!ok) return;
  }
  try {
    const { paused } = await api(`/api/dashboard/queue/${action}`, { method: "POST" });
    const undo = paused ? () => setDispatch("resume", ctx) : null; // a pause is taken back by resuming
    toast(paused ? "Job queue paused" : "Job queue dispatching again", "", { undo });
    ctx.refresh();
  } catch (error) {
    toast(error.message, "bad");
  }
}

let runningKeys = "";

function renderDispatch(jobs) {
  const paused = Boolean(jobs && jobs.paused);
  const badge = $("dispatch-state");
  setText(badge, jobs ? (paused ? "paused" : "dispatching") : "no job queue");
  badge.className = `badge ${paused ? "warning" : "ok"}`;
  $("dispatch-pause").hidden = paused || !jobs;
  $("dispatch-resume").hidden = !paused;
  const running = ((jobs && jobs.jobs) || []).filter((j) => j.status === "running");
  const keys = running.map((j) => `${j.job_id}:${j.pieces_done}`).join();
  if (keys === runningKeys) return;
  runningKeys = keys;
  $("running-jobs").replaceChildren(...running.map(runningJob));
}

function runningJob(job) {
  const stop = h("button", { class: "danger small", type: "button", text: "Cancel its tasks" });
  stop.addEventListener("click", async () => {
    const left = job.pieces_total - job.pieces_done;
    const ok = await confirmAction({
      title: `Cancel job ${job.job_id}?`,
      message: `Its ${number(left)} unfinished piece${left === 1 ? "" : "s"} stop now; finished ones are kept.`,
      confirmText: "Cancel job",
    });
    if (!ok) return;
    try {
      await api(`/api/processing/jobs/${encodeURIComponent(job.job_id)}/cancel`, { method: "POST" });
      toast(`Cancelled ${job.job_id}`);
    } catch (error) {
      toast(error.message, "bad");
    }
  });
  return h(
    "li",
    { dataset: { job: job.job_id } },
    h("span", { class: "badge info", text: "running" }),
    h("span", { class: "cell-main", text: job.job_id }),
    h("span", { class: "cell-sub", text: `${job.type} · ${number(job.pieces_done)} of ${number(job.pieces_total)} pieces` }),
    stop,
  );
}

function renderFailures(failures) {
  const keys = failures.map((f) => `${f.key}@${f.time}`).join("|");
  if (keys === failureKeys) return;
  failureKeys = keys;
  $("failures").replaceChildren(
    ...failures.map((f) =>
      h(
        "div",
        { class: "failure" },
        h("div", { class: "failure-head" }, h("span", { class: "cell-main", text: f.key }), h("span", { class: "cell-sub", text: `${clock(f.time)} · ${f.worker || "unknown worker"}` })),
        h("pre", { text: f.error }),
      ),
    ),
  );
  $("failures-empty").hidden = failures.length > 0;
  $("clear-failed").disabled = failures.length === 0;
}

export function shown() {
  pie.shown();
  bars.shown();
  stream.start();
}

export function hidden() {
  stream.stop();
}

export function redraw() {
  pie.draw(true);
  bars.draw(true);
}
