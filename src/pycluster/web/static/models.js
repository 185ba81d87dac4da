// Models tab: LLM deployments (GET /api/llm/models) with live request metrics; deploy, scale,
// stop / start / restart and undeploy per deployment; "Try a prompt" (tryprompt.js); the deploy
// form's defaults follow what the cluster has (no GPU: 0 GPUs per replica, fp32). Polls every
// 2 s while shown.

import { api } from "./api.js";
import { confirmAction } from "./confirm.js";
import { $, h, setText, syncRows, toast } from "./dom.js";
import { number } from "./format.js";
import * as tryPrompt from "./tryprompt.js";

const POLL_MS = 2000;
const rows = new Map();
let timer = null;
let lastSnapshot = null;

const fixed = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
const ms = (value) => (value === null || value === undefined ? "–" : `${Math.round(value)} ms`);

/** Ask before an action that stops a model, in the dashboard's one confirmation dialog. */
function confirmed(title, message, confirmText) {
  return confirmAction({ title, message, confirmText });
}

function createRow(d) {
  const r = {
    id: h("div", { class: "cell-main mono" }),
    model: h("div", { class: "hint wrap" }),
    status: h("span", { class: "badge" }),
    reason: h("div", { class: "hint wrap" }),
    replicas: h("span"),
    workers: h("div", { class: "hint wrap" }),
    rps: h("span"),
    tps: h("span"),
    latency: h("span"),
    count: h("input", { type: "number", min: "1", max: "256", step: "1", class: "tiny", inputmode: "numeric" }),
    scale: h("button", { class: "ghost small", type: "button", text: "Scale" }),
    stop: h("button", { class: "ghost small", type: "button", text: "Stop" }),
    start: h("button", { class: "ghost small", type: "button", text: "Start" }),
    restart: h("button", { class: "ghost small", type: "button", text: "Restart" }),
    undeploy: h("button", { class: "ghost small danger", type: "button", text: "Undeploy" }),
    totals: h("div", { class: "hint nowrap" }),
    deployment: d,
  };
  r.scale.addEventListener("click", () => scale(d.deployment_id, r));
  r.stop.addEventListener("click", () => lifecycle(r, "stop"));
  r.start.addEventListener("click", () => lifecycle(r, "start"));
  r.restart.addEventListener("click", () => lifecycle(r, "restart"));
  r.undeploy.addEventListener("click", () => undeploy(r));
  r.tr = h(
    "tr",
    { dataset: { deploymentId: d.deployment_id } },
    h("td", { "data-label": "Deployment" }, r.id, r.model),
    h("td", { "data-label": "Status" }, r.status, r.reason),
    // value and hint in one block, so the phone layout keeps both beside the label
    h("td", { "data-label": "Replicas" }, h("div", {}, r.replicas, r.workers)),
    h("td", { "data-label": "Requests/s", class: "num" }, h("div", {}, r.rps, r.totals)),
    h("td", { "data-label": "Tokens/s", class: "num" }, r.tps),
    h("td", { "data-label": "Latency p50 / p99", class: "num" }, r.latency),
    // in a wrapper: the phone layout hides an actions cell whose own button is hidden (jobs')
    h("td", { "data-label": "", class: "actions" }, h("div", { class: "row-actions" }, r.count, r.scale, r.stop, r.start, r.restart, r.undeploy)),
  );
  return r;
}

function updateRow(r, d) {
  r.deployment = d;
  setText(r.id, d.deployment_id);
  const engine = d.engine && d.engine !== "auto" ? ` · ${d.engine}` : ""; // "auto" is chosen per replica
  setText(r.model, `${d.model_name}${engine} · ${d.precision}`);
  r.model.title = (d.notes || []).join("\n");
  setText(r.status, d.status);
  r.status.className = `badge ${{ ready: "ok", loading: "pending", failed: "failed", stopped: "paused" }[d.status] || ""}`;
  setText(r.reason, d.status === "failed" ? d.reason || "" : "");
  setText(r.replicas, `${d.replicas_ready}/${d.replicas} ready`);
  r.replicas.className = "nowrap";
  const workers = (d.replica_details || []).map((x) => x.worker).filter(Boolean);
  setText(r.workers, workers.join(", "));
  setText(r.rps, fixed(d.requests_per_second, 2));
  setText(r.tps, fixed(d.tokens_per_second, 1));
  const latency = d.latency_ms || {};
  setText(r.latency, latency.p50 === null || latency.p50 === undefined ? "–" : `${ms(latency.p50)} / ${ms(latency.p99)}`);
  // the rates cover the last minute; the totals say what was served since the deployment started
  setText(r.totals, `${number(d.total_requests)} requests`);
  const stopped = d.status === "stopped";
  r.stop.hidden = stopped;
  r.restart.hidden = stopped;
  r.start.hidden = !stopped;
  r.scale.disabled = false;
  for (const [button, verb] of [[r.stop, "Stop"], [r.start, "Start"], [r.restart, "Restart"]]) {
    button.setAttribute("aria-label", `${verb} ${d.deployment_id}`);
  }
  if (document.activeElement !== r.count) r.count.value = String(d.replicas);
  r.count.setAttribute("aria-label", `Replicas of ${d.deployment_id}`);
  r.scale.setAttribute("aria-label", `Scale ${d.deployment_id}`);
  r.undeploy.setAttribute("aria-label", `Undeploy ${d.deployment_id}`);
}

async function load() {
  let deployments = [];
  try {
    deployments = (await api("/api/llm/models")).deployments;
    setText("models-reason", "Deploy a model with the form, pycluster llm deploy, or POST /api/llm/models/deploy.");
  } catch (error) {
    setText("models-reason", error.message);
  }
  syncRows($("models-body"), rows, deployments, (d) => d.deployment_id, createRow, updateRow);
  tryPrompt.offer(deployments);
  $("models-table").hidden = deployments.length === 0;
  $("models-empty").hidden = deployments.length > 0;
  const ready = deployments.filter((d) => d.status === "ready").length;
  setText("models-summary", deployments.length ? `${ready} of ${deployments.length} ready` : "");
}

async function act(button, work, done, undo = null) {
  button.disabled = true;
  try {
    await work();
    toast(done, "", { undo });
    await load();
  } catch (error) {
    toast(error.message, "bad");
  } finally {
    button.disabled = false;
  }
}

function scale(id, r) {
  const replicas = Number(r.count.value);
  if (!Number.isInteger(replicas) || replicas < 1) {
    toast("Replicas must be a whole number, at least 1", "bad");
    return;
  }
  const path = `/api/llm/models/${encodeURIComponent(id)}/scale`;
  act(r.scale, () => api(path, { method: "POST", body: { replicas } }), `Scaling ${id} to ${replicas}`);
}

function replicasText(d) {
  const where = [...new Set((d.replica_details || []).map((x) => x.worker).filter(Boolean))];
  const n = d.replicas;
  return `${n} replica${n === 1 ? "" : "s"}${where.length ? ` on ${where.join(", ")}` : ""}`;
}

// what each action does, said before it is done (stop and restart end requests in flight)
const LIFECYCLE = {
  stop: { verb: "Stop", ask: (d) => `Stop ${d.deployment_id} (${d.model_name})? This stops its ${replicasText(d)} and frees their memory; requests in flight end. It stays listed, and Start loads it again.`, done: "Stopped" },
  restart: { verb: "Restart", ask: (d) => `Restart ${d.deployment_id} (${d.model_name})? This stops its ${replicasText(d)} and loads them again; requests in flight end, new ones wait.`, done: "Restarting" },
  start: { verb: "Start", ask: null, done: "Starting" },
};

async function lifecycle(r, action) {
  const d = r.deployment;
  const { verb, ask, done } = LIFECYCLE[action];
  if (ask && !(await confirmed(`${verb} ${d.deployment_id}?`, ask(d), verb))) return;
  const path = `/api/llm/models/${encodeURIComponent(d.deployment_id)}/${action}`;
  // a stop is taken back by starting it again (its replicas load anew)
  const base = `/api/llm/models/${encodeURIComponent(d.deployment_id)}`;
  const undo = action === "stop" ? () => api(`${base}/start`, { method: "POST" }).then(load) : null;
  act(r[action], () => api(path, { method: "POST" }), `${done} ${d.deployment_id}`, undo);
}

async function undeploy(r) {
  const d = r.deployment;
  const ask = `Undeploy ${d.deployment_id} (${d.model_name})? This stops its ${replicasText(d)} and forgets the deployment: deploying it again loads it from scratch. This cannot be undone.`;
  if (!(await confirmed(`Undeploy ${d.deployment_id}?`, ask, "Undeploy"))) return;
  const path = `/api/llm/models/${encodeURIComponent(d.deployment_id)}`;
  act(r.undeploy, () => api(path, { method: "DELETE" }), `Undeployed ${d.deployment_id}`);
}

/** The deploy form's defaults from what the cluster has: no GPU anywhere means CPU replicas. */
async function formDefaults() {
  let gpus = 0;
  try {
    const summary = (await api("/api/llm/gpu/status?history=0")).summary;
    gpus = summary.available ? summary.count : 0;
  } catch {
    gpus = 0; // a head without the GPU service: only advertised GPU resources count
  }
  const workers = (lastSnapshot && lastSnapshot.workers) || [];
  const advertised = workers.reduce((n, w) => n + (Number((w.resources || {}).GPU) || 0), 0);
  const hasGpu = gpus > 0 || advertised > 0;
  const form = $("deploy-form");
  const suggest = (name, value) => {
    const field = form.elements[name];
    if (!field.dataset.touched) field.value = value;
  };
  suggest("gpu_per_replica", hasGpu ? "1" : "0");
  suggest("precision", hasGpu ? "fp16" : "fp32"); // CPU replicas run fp32 in any case
  setText(
    "deploy-gpus-help",
    hasGpu
      ? `This cluster has ${Math.max(gpus, advertised)} GPU${Math.max(gpus, advertised) === 1 ? "" : "s"}; 0 serves on CPU workers.`
      : "This cluster has no GPU: replicas run on CPU workers (0 GPUs per replica).",
  );
}

async function deploy(event) {
  event.preventDefault();
  setText("deploy-error", "");
  const form = $("deploy-form");
  const number = (name) => Number(form.elements[name].value);
  const body = {
    model_name: form.elements.model_name.value.trim(),
    gpu_per_replica: number("gpu_per_replica"),
    replicas: number("replicas"),
    precision: form.elements.precision.value,
    batch_size: number("batch_size"),
    max_sequence_length: number("max_sequence_length"),
  };
  if (!body.model_name) {
    setText("deploy-error", "Name a model: a folder on the workers or a Hugging Face name in the cache.");
    return;
  }
  const button = $("deploy-submit");
  button.disabled = true;
  try {
    const answer = await api("/api/llm/models/deploy", { method: "POST", body });
    toast(`Deploying ${answer.deployment_id}`);
    await load();
  } catch (error) {
    setText("deploy-error", error.message);
  } finally {
    button.disabled = false;
  }
}

export const models = {
  init() {
    const form = $("deploy-form");
    form.addEventListener("submit", deploy);
    // a value the person chose is theirs: the cluster's defaults no longer change it
    form.addEventListener("input", (event) => {
      if (event.target.name) event.target.dataset.touched = "1";
    });
    tryPrompt.init();
  },
  render(snap) {
    lastSnapshot = snap;
  },
  shown() {
    clearInterval(timer);
    load();
    formDefaults();
    timer = setInterval(load, POLL_MS);
  },
  hidden() {
    clearInterval(timer);
  },
  redraw() {},
};
