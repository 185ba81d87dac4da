// Tasks: completed / running / pending / failed, throughput per interval, recent failures.

import { api } from "./api.js";
import { barChart, donutChart } from "./charts.js";
import { $, h, setText, toast } from "./dom.js";
import { clock, number } from "./format.js";
import { state, windowSamples } from "./state.js";

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
  pie = donutChart($("chart-task-pie"), () => counts);
  bars = barChart($("chart-task-bars"), perInterval, { windowSeconds: () => state.windowSeconds, name: "tasks" });
  $("clear-failed").addEventListener("click", async () => {
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
}

export function redraw() {
  pie.draw(true);
  bars.draw(true);
}
