// The dashboard: sign-in, tabs, one Server-Sent Events stream that pushes every update.

import { api, auth, streamUrl } from "./api.js";
import { gpu } from "./accelerators.js";
import { $, safeUrl, setText } from "./dom.js";
import * as jobs from "./jobs.js";
import { models } from "./models.js";
import * as monitoring from "./monitoring.js";
import * as overview from "./overview.js";
import { addSamples, applyPatch, setHistory, state } from "./state.js";
import * as tasks from "./tasks.js";
import * as workers from "./workers.js";

const TABS = { overview, workers, tasks, jobs, monitoring, gpu, models };
const HIDDEN_GRACE_MS = 5000; // a background tab keeps its stream this long (a quick switch back), then lets it go
let current = "overview";
let source = null;
let initialised = false;
let hiddenTimer = null;

const ctx = { refresh, reconnect: connect, loadHistory, redrawCharts: () => TABS[current].redraw() };

// ------------------------------------------------------------------ tabs
function tabFromHash() {
  const name = window.location.hash.slice(1);
  return Object.hasOwn(TABS, name) ? name : "overview";
}

function showTab(name) {
  if (current !== name && TABS[current].hidden) TABS[current].hidden();
  current = name;
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link.dataset.tab === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (initialised && state.snapshot) TABS[name].render(state.snapshot, { samplesChanged: true });
  if (initialised) TABS[name].shown();
}

// ------------------------------------------------------------------ updates
function renderChrome(snap) {
  const c = snap.cluster || {};
  const name = c.cluster_name || "pycluster";
  setText("cluster-name", name);
  if (document.title !== `pycluster · ${name}`) document.title = `pycluster · ${name}`;
  const dask = c.dask_dashboard_url ? safeUrl(c.dask_dashboard_url) : null;
  const link = $("dask-top-link");
  link.hidden = !dask;
  if (dask && link.getAttribute("href") !== dask) link.setAttribute("href", dask);
  setText("tab-count-workers", (snap.workers || []).length);
  const totals = (snap.jobs && snap.jobs.totals) || {};
  const active = (totals.queued || 0) + (totals.pending || 0) + (totals.running || 0);
  setText("tab-count-jobs", active ? active : "");
  const firing = (snap.alerts && snap.alerts.active.length) || 0;
  setText("tab-count-alerts", firing ? firing : "");
  showBanner(c.status === "stopped" ? "The cluster is not running. Start it with POST /api/processing/cluster/start." : "");
}

function onSnapshot(snap) {
  const added = addSamples(snap.metrics);
  state.snapshot = snap;
  renderChrome(snap);
  TABS[current].render(snap, { samplesChanged: added > 0 });
}

function showBanner(text, kind = "") {
  const banner = $("banner");
  banner.hidden = !text;
  banner.className = `banner ${kind}`;
  setText(banner, text || "");
}

function setLive(mode) {
  const labels = { live: "Live", connecting: "Connecting", reconnecting: "Reconnecting", offline: "Offline" };
  $("live-pill").dataset.state = mode;
  setText("live-text", labels[mode]);
}

// ------------------------------------------------------------------ the stream
function connect() {
  if (source) source.close();
  setLive("connecting");
  const stream = new EventSource(streamUrl(state.interval));
  source = stream;
  stream.addEventListener("snapshot", (event) => {
    setLive("live");
    onSnapshot(JSON.parse(event.data));
  });
  stream.addEventListener("delta", (event) => {
    setLive("live");
    onSnapshot(applyPatch(state.snapshot, JSON.parse(event.data)));
  });
  stream.addEventListener("problem", (event) => showBanner(JSON.parse(event.data).detail, "bad"));
  stream.onerror = () => {
    if (stream !== source) return;
    if (stream.readyState === EventSource.CLOSED) {
      // refused (not a network blip, which EventSource retries by itself): find out why
      setLive("offline");
      setTimeout(() => stream === source && start(), 3000);
    } else {
      setLive("reconnecting");
    }
  };
}

function disconnect() {
  if (source) source.close();
  source = null;
}

async function refresh() {
  try {
    onSnapshot(await api("/api/dashboard/snapshot"));
  } catch {
    /* the stream brings the next one */
  }
}

/** Metric history for the chart window (the stream then adds each new sample). */
async function loadHistory() {
  const recent = (state.snapshot && state.snapshot.metrics) || [];
  const step = recent.length > 1 ? (Date.parse(recent[1].timestamp) - Date.parse(recent[0].timestamp)) / 1000 : 2;
  const limit = Math.min(100000, Math.ceil(state.windowSeconds / Math.max(0.1, step || 2)) + 2);
  try {
    setHistory((await api(`/api/processing/metrics/cluster?limit=${limit}`)).metrics);
  } catch {
    /* charts fill from the stream */
  }
}

// ------------------------------------------------------------------ sign-in and start
function showLogin() {
  disconnect();
  document.body.classList.add("signed-out");
  $("login").hidden = false;
  $("sign-out").hidden = true;
  $("login-token").focus();
}

async function start() {
  let snap;
  try {
    snap = await api("/api/dashboard/snapshot");
  } catch (error) {
    if (error.status === 401) return;
    setLive("offline");
    showBanner(`Cannot reach the head: ${error.message}. Retrying…`, "bad");
    setTimeout(start, 3000);
    return;
  }
  $("login").hidden = true;
  document.body.classList.remove("signed-out");
  $("sign-out").hidden = !auth.signedIn;
  state.snapshot = snap;
  if (!initialised) {
    for (const tab of Object.values(TABS)) tab.init(ctx);
    initialised = true;
  }
  await loadHistory();
  state.snapshot = null;
  onSnapshot(snap);
  showTab(current);
  connect();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("login-token").value.trim();
  setText("login-error", "");
  try {
    await auth.signIn(token);
  } catch (error) {
    setText("login-error", error.status === 401 ? "That token was not accepted." : error.message);
    return;
  }
  $("login-token").value = "";
  start();
});

$("sign-out").addEventListener("click", async () => {
  await auth.signOut();
  showLogin();
});

auth.onUnauthorized(showLogin);
window.addEventListener("hashchange", () => showTab(tabFromHash()));
document.addEventListener("visibilitychange", () => {
  clearTimeout(hiddenTimer);
  if (document.hidden) hiddenTimer = setTimeout(disconnect, HIDDEN_GRACE_MS);
  else if (!source && initialised && $("login").hidden) connect();
});

current = tabFromHash();
showTab(current);
start();
