// Models tab: LLM deployments (GET /api/llm/models) with live request metrics, and the
// deploy / scale / undeploy controls. Polls every 2 s while shown.

import { api } from "./api.js";
import { $, h, setText, syncRows, toast } from "./dom.js";

const POLL_MS = 2000;
const rows = new Map();
let timer = null;

const fixed = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));
const ms = (value) => (value === null || value === undefined ? "–" : `${Math.round(value)} ms`);

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
    undeploy: h("button", { class: "ghost small danger", type: "button", text: "Undeploy" }),
  };
  r.scale.addEventListener("click", () => scale(d.deployment_id, r));
  r.undeploy.addEventListener("click", () => undeploy(d.deployment_id, r.undeploy));
  r.tr = h(
    "tr",
    { dataset: { deploymentId: d.deployment_id } },
    h("td", { "data-label": "Deployment" }, r.id, r.model),
    h("td", { "data-label": "Status" }, r.status, r.reason),
    h("td", { "data-label": "Replicas" }, r.replicas, r.workers),
    h("td", { "data-label": "Requests/s", class: "num" }, r.rps),
    h("td", { "data-label": "Tokens/s", class: "num" }, r.tps),
    h("td", { "data-label": "Latency p50 / p99", class: "num" }, r.latency),
    h("td", { "data-label": "", class: "actions" }, r.count, r.scale, r.undeploy),
  );
  return r;
}

function updateRow(r, d) {
  setText(r.id, d.deployment_id);
  const engine = d.engine && d.engine !== "auto" ? ` · ${d.engine}` : ""; // "auto" is chosen per replica
  setText(r.model, `${d.model_name}${engine} · ${d.precision}`);
  r.model.title = (d.notes || []).join("\n");
  setText(r.status, d.status);
  r.status.className = `badge ${{ ready: "ok", loading: "pending", failed: "failed" }[d.status] || ""}`;
  setText(r.reason, d.status === "failed" ? d.reason || "" : "");
  setText(r.replicas, `${d.replicas_ready}/${d.replicas} ready`);
  r.replicas.className = "nowrap";
  const workers = (d.replica_details || []).map((x) => x.worker).filter(Boolean);
  setText(r.workers, workers.join(", "));
  setText(r.rps, fixed(d.requests_per_second, 2));
  setText(r.tps, fixed(d.tokens_per_second, 1));
  const latency = d.latency_ms || {};
  setText(r.latency, latency.p50 === null || latency.p50 === undefined ? "–" : `${ms(latency.p50)} / ${ms(latency.p99)}`);
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
  $("models-table").hidden = deployments.length === 0;
  $("models-empty").hidden = deployments.length > 0;
  const ready = deployments.filter((d) => d.status === "ready").length;
  setText("models-summary", deployments.length ? `${ready} of ${deployments.length} ready` : "");
}

async function act(button, work, done) {
  button.disabled = true;
  try {
    await work();
    toast(done);
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

function undeploy(id, button) {
  act(button, () => api(`/api/llm/models/${encodeURIComponent(id)}`, { method: "DELETE" }), `Undeployed ${id}`);
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
    $("deploy-form").addEventListener("submit", deploy);
  },
  render() {},
  shown() {
    clearInterval(timer);
    load();
    timer = setInterval(load, POLL_MS);
  },
  hidden() {
    clearInterval(timer);
  },
  redraw() {},
};
