// Charts drawn by plotly.js (served from the plotly wheel by our own app: no CDN).
// A chart redraws only while its tab is visible; hidden ones are marked stale.

import { h } from "./dom.js";

const CONFIG = { displayModeBar: false, responsive: true };
const charts = new Set();

export const plotlyReady = () => typeof window.Plotly !== "undefined";

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Colours come from the page's CSS variables, so charts follow the light/dark theme. */
export function palette() {
  return {
    text: css("--muted"),
    strong: css("--text"),
    grid: css("--border"),
    surface: css("--surface"),
    accent: css("--accent"),
    teal: css("--teal"),
    ok: css("--ok"),
    warn: css("--warn"),
    bad: css("--bad"),
    info: css("--info"),
  };
}

const MIN_SPAN_MS = 60000;

/** The x range: the chosen window, or less while the data is younger (charts fill their width). */
function xRange(firstIso, lastIso, windowSeconds) {
  const end = lastIso ? Date.parse(lastIso) : Date.now();
  const first = firstIso ? Date.parse(firstIso) : end;
  const start = Math.max(end - windowSeconds * 1000, Math.min(first, end - MIN_SPAN_MS));
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

function baseLayout(p, extra = {}) {
  return {
    margin: { l: 48, r: 12, t: 8, b: 32 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 11, color: p.text },
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.12, font: { size: 11 } },
    hovermode: "x unified",
    hoverlabel: { bgcolor: p.surface, bordercolor: p.grid, font: { color: p.text } },
    xaxis: { type: "date", gridcolor: p.grid, linecolor: p.grid, zeroline: false, tickformat: "%H:%M:%S" },
    yaxis: { gridcolor: p.grid, linecolor: p.grid, zeroline: false, rangemode: "tozero", automargin: true },
    ...extra,
  };
}

/**
 * A chart bound to an element. `draw()` renders if visible (else on the next show), at most
 * once per MIN_REDRAW_MS: a plotly redraw costs ~15 ms of CPU, and five open dashboards
 * redrawing every second would cost the machine they run on more than the data is worth.
 * `draw(true)` (a tab shown, a setting changed) renders at once.
 */
const MIN_REDRAW_MS = 5000;
// and no more often than keeps each chart under ~0.25 % of a core: on a slow machine (where
// the cluster shares the cores with the browser) a 25 ms redraw waits 10 s, a 5 ms one 5 s
const COST_BUDGET = 0.0025;
const MAX_REDRAW_MS = 12000; // but a live chart is never older than this

export class Chart {
  constructor(el, build) {
    this.el = el;
    this.build = build; // (palette) => {data, layout}
    this.stale = true;
    this.drawnAt = 0;
    this.timer = null;
    this.onScreen = true; // until the observer says otherwise
    this.costMs = 0; // recent redraw time, smoothed
    charts.add(this);
    if (typeof IntersectionObserver !== "undefined") {
      // a chart scrolled out of view is not redrawn (plotly is most of an open page's CPU);
      // it draws once when it comes back into view
      new IntersectionObserver(([entry]) => {
        this.onScreen = entry.isIntersecting;
        if (this.onScreen && this.stale) this.draw(true);
      }).observe(el);
    }
  }

  visible() {
    return this.onScreen && this.el.offsetParent !== null;
  }

  draw(now = false) {
    this.stale = true;
    if (!this.visible()) return;
    const every = Math.min(MAX_REDRAW_MS, Math.max(MIN_REDRAW_MS, this.costMs / COST_BUDGET));
    const wait = this.drawnAt + every - performance.now();
    if (!now && wait > 0) {
      if (!this.timer) this.timer = setTimeout(() => this.render(), wait);
      return;
    }
    this.render();
  }

  render() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.visible()) return;
    if (!plotlyReady()) {
      if (!this.el.firstChild) {
        this.el.append(h("div", { class: "chart-missing", text: "Charts need plotly.js: pip install plotly on the head." }));
      }
      return;
    }
    const started = performance.now();
    const { data, layout } = this.build(palette());
    window.Plotly.react(this.el, data, layout, CONFIG);
    this.stale = false;
    this.drawnAt = performance.now();
    const cost = this.drawnAt - started;
    this.costMs = this.costMs ? 0.7 * this.costMs + 0.3 * cost : cost;
  }

  /** After its tab became visible: draw if stale, and fit the (possibly new) width. */
  shown() {
    if (this.stale) this.draw(true);
    else if (plotlyReady()) window.Plotly.Plots.resize(this.el);
  }
}

/** Time series from metric samples: series = [{name, y: sample => number, color, fill?}]. */
export function timeChart(el, getSamples, series, { yTitle = "", yMax = null, ySuffix = "", shapes = () => [], windowSeconds }) {
  return new Chart(el, (p) => {
    const samples = getSamples();
    const x = samples.map((s) => s.timestamp);
    const data = series.map((s) => ({
      type: "scatter",
      mode: "lines",
      name: s.name,
      x,
      y: samples.map(s.y),
      line: { color: p[s.color], width: 2, shape: "linear" },
      fill: s.fill ? "tozeroy" : "none",
      fillcolor: s.fill ? `${p[s.color]}22` : undefined,
      hovertemplate: `%{y:.1f}${ySuffix}<extra>${s.name}</extra>`,
    }));
    const layout = baseLayout(p, {
      shapes: shapes(p),
      yaxis: {
        ...baseLayout(p).yaxis,
        title: { text: yTitle, font: { size: 11 } },
        range: yMax ? [0, yMax] : undefined,
        ticksuffix: ySuffix,
      },
    });
    layout.xaxis.range = xRange(x[0], x[x.length - 1], windowSeconds());
    return { data, layout };
  });
}

/** A dashed horizontal line across a time chart (an alert threshold). */
export function thresholdLine(y, color, label) {
  return {
    type: "line",
    xref: "paper",
    x0: 0,
    x1: 1,
    y0: y,
    y1: y,
    line: { color, width: 1.5, dash: "dash" },
    label: { text: label, textposition: "end", font: { size: 10, color } },
  };
}

export function donutChart(el, getCounts) {
  return new Chart(el, (p) => {
    const counts = getCounts();
    const labels = ["Completed", "Running", "Pending", "Failed"];
    const colors = [p.ok, p.accent, p.warn, p.bad];
    const total = counts.reduce((a, b) => a + b, 0);
    const data = [
      {
        type: "pie",
        hole: 0.62,
        labels,
        values: total ? counts : [1, 0, 0, 0],
        marker: { colors: total ? colors : [p.grid, p.grid, p.grid, p.grid], line: { color: p.surface, width: 2 } },
        textinfo: "none",
        hovertemplate: total ? "%{label}: %{value}<extra></extra>" : "no tasks yet<extra></extra>",
        sort: false,
      },
    ];
    const layout = baseLayout(p, {
      margin: { l: 8, r: 8, t: 8, b: 8 },
      legend: { orientation: "v", x: 1, y: 0.5, font: { size: 12 } },
      hovermode: "closest",
      annotations: [
        { text: total.toLocaleString(), showarrow: false, font: { size: 22, color: p.strong }, y: 0.55 },
        { text: "tasks", showarrow: false, font: { size: 11, color: p.text }, y: 0.42 },
      ],
    });
    delete layout.xaxis;
    delete layout.yaxis;
    return { data, layout };
  });
}

export function barChart(el, getBars, { windowSeconds, name }) {
  return new Chart(el, (p) => {
    const { x, y } = getBars();
    const data = [{ type: "bar", name, x, y, marker: { color: p.accent }, hovertemplate: "%{y} tasks<extra></extra>" }];
    const layout = baseLayout(p, { showlegend: false, bargap: 0.15 });
    layout.xaxis.range = xRange(x[0], x[x.length - 1], windowSeconds());
    return { data, layout };
  });
}

/** Theme switch (the system's light/dark): every chart redraws with the new colours. */
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const chart of charts) chart.draw(true);
});
