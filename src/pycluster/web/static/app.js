// The dashboard: sign-in, tabs, one Server-Sent Events stream that pushes every update.

import { api, auth, streamUrl } from "./api.js";
import { gpu } from "./accelerators.js";
import { $, safeUrl, setText } from "./dom.js";
import { clock, duration } from "./format.js";
import { closeJob, openJob } from "./jobdetail.js";
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
const JOB_ROUTE = /^#\/jobs\/([^/]+)$/; // #/jobs/<id>: the jobs tab with that job's drawer open

function tabFromHash() {
  if (JOB_ROUTE.test(window.location.hash)) return "jobs";
  const name = window.location.hash.slice(1);
  return Object.hasOwn(TABS, name) ? name : "overview";
}

function route() {
  showTab(tabFromHash());
  const job = JOB_ROUTE.exec(window.location.hash);
  if (job) openJob(decodeURIComponent(job[1]));
  else closeJob();
}

/** On a narrow screen the tab bar scrolls: arrows (and a fade) show on the side that has more. */
function updateTabHints() {
  const tabs = $("tabs");
  const more = tabs.scrollWidth - tabs.clientWidth;
  $("tabs-left").hidden = tabs.scrollLeft <= 2;
  $("tabs-right").hidden = more <= 2 || tabs.scrollLeft >= more - 2;
}

/** Scroll the tab bar so that ``link`` shows whole, clear of the arrows at its edges. */
function revealTab(link) {
  const tabs = $("tabs");
  const margin = 44; // an arrow's width and a little
  const box = link.getBoundingClientRect();
  // where the link starts in the bar's content: the same however far a smooth scroll has got
  const start = box.left - tabs.getBoundingClientRect().left + tabs.scrollLeft;
  const lowest = start + box.width + margin - tabs.clientWidth; // scrolled less, its right end is cut
  const highest = start - margin; // scrolled more, its left end is cut
  const target = Math.min(Math.max(tabs.scrollLeft, lowest), highest);
  tabs.scrollTo({ left: Math.max(0, target) }); // also when it is in place: ends a scroll under way
}

function initTabBar() {
  const tabs = $("tabs");
  tabs.addEventListener("scroll", updateTabHints, { passive: true });
  window.addEventListener("resize", updateTabHints);
  $("tabs-left").addEventListener("click", () => tabs.scrollBy({ left: -tabs.clientWidth * 0.7 }));
  $("tabs-right").addEventListener("click", () => tabs.scrollBy({ left: tabs.clientWidth * 0.7 }));
  updateTabHints();
}

function showTab(name) {
  if (current !== name && TABS[current].hidden) TABS[current].hidden();
  current = name;
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link.dataset.tab === name) {
      link.setAttribute("aria-current", "page");
      revealTab(link);
    } else link.removeAttribute("aria-current");
  }
  updateTabHints();
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
  const labels = { live: "Live", connecting: "Connecting", reconnecting: "Reconnecting", offline: "Head unreachable" };
  $("live-pill").dataset.state = mode;
  setText("live-text", labels[mode]);
}

// ------------------------------------------------------------------ honest health
// Losing the stream marks the head unreachable at once; a stream that stays open but brings
// nothing does after STALE_AFTER_MS (or two intervals, for slow ones). Everything shown is then
// greyed as stale until data comes again, and the page says when it resumed.
const STALE_AFTER_MS = 3000;
const RESUMED_NOTE_MS = 15000;
const health = { lastData: 0, staleSince: null, watchdog: null, resumedTimer: null };

function heard() {
  const now = Date.now();
  if (health.staleSince !== null) resumed(now);
  health.lastData = now;
  armWatchdog();
}

function armWatchdog() {
  clearTimeout(health.watchdog);
  const wait = Math.max(STALE_AFTER_MS, state.interval * 2000 + 1000);
  health.watchdog = setTimeout(() => markStale("no update came"), wait);
}

function markStale(reason) {
  clearTimeout(health.watchdog);
  clearTimeout(health.resumedTimer);
  if (health.staleSince === null) health.staleSince = Date.now();
  document.body.classList.add("stale");
  setLive("offline");
  const since = clock(new Date(health.staleSince).toISOString());
  const shown = health.lastData ? `The numbers below are from ${clock(new Date(health.lastData).toISOString())} and are not live.` : "";
  showHealth(`The head is unreachable since ${since} (${reason}). ${shown} Retrying…`, "bad");
  const card = document.querySelector("#card-health .v");
  if (card) setText(card, "Unreachable");
}

function resumed(now) {
  const gap = (now - health.staleSince) / 1000;
  health.staleSince = null;
  document.body.classList.remove("stale");
  showHealth(`Data resumed at ${clock(new Date(now).toISOString())} after ${duration(gap)} without updates.`, "ok");
  health.resumedTimer = setTimeout(() => showHealth(""), RESUMED_NOTE_MS);
}

function showHealth(text, kind = "") {
  const banner = $("health-banner");
  banner.hidden = !text;
  banner.className = `banner ${kind}`;
  setText(banner, text || "");
}

// ------------------------------------------------------------------ the stream
function connect() {
  if (source) source.close();
  setLive("connecting");
  const stream = new EventSource(streamUrl(state.interval));
  source = stream;
  armWatchdog();
  stream.addEventListener("snapshot", (event) => {
    heard();
    setLive("live");
    onSnapshot(JSON.parse(event.data));
  });
  stream.addEventListener("delta", (event) => {
    heard(); // a delta is sent every tick, also an empty one: it is news that the head is alive
    setLive("live");
    onSnapshot(applyPatch(state.snapshot, JSON.parse(event.data)));
  });
  stream.addEventListener("problem", (event) => showBanner(JSON.parse(event.data).detail, "bad"));
  stream.onerror = () => {
    if (stream !== source) return;
    markStale("the live stream was lost");
    if (stream.readyState === EventSource.CLOSED) {
      // refused (not a network blip, which EventSource retries by itself): find out why
      setTimeout(() => stream === source && start(), 3000);
    }
  };
}

function disconnect() {
  if (source) source.close();
  source = null;
  clearTimeout(health.watchdog); // a hidden tab let its stream go on purpose: not a lost head
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
    markStale(`cannot reach it: ${error.message}`);
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
  heard();
  onSnapshot(snap);
  route();
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
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => {
  clearTimeout(hiddenTimer);
  if (document.hidden) hiddenTimer = setTimeout(disconnect, HIDDEN_GRACE_MS);
  else if (!source && initialised && $("login").hidden) connect();
});

initTabBar();
current = tabFromHash();
showTab(current);
start();
