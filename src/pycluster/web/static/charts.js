// Charts drawn by uPlot (vendored under static/vendor/, served by our own app: no CDN), and a
// small canvas donut of our own (uPlot draws no pies). A chart redraws only while its tab is
// visible; hidden ones are marked stale.

import { h } from "./dom.js";

const charts = new Set();

export const chartsReady = () => typeof window.uPlot !== "undefined";

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

const FONT = "11px system-ui, -apple-system, Segoe UI, Roboto, sans-serif";
const MIN_SPAN_S = 60;

/** The x range in seconds: the chosen window, or less while the data is younger (charts fill their width). */
function xRange(first, last, windowSeconds) {
  const end = last ?? Date.now() / 1000;
  const start = Math.max(end - windowSeconds, Math.min(first ?? end, end - MIN_SPAN_S));
  return [start, end];
}

const seconds = (iso) => Date.parse(iso) / 1000;
const pad = (n) => String(n).padStart(2, "0");
const clockOf = (s) => {
  const d = new Date(s * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};

// a missing reading (undefined / 1e6 is NaN) is a gap in the line, not a broken scale
const finite = (f) => (sample) => {
  const v = f(sample);
  return Number.isFinite(v) ? v : null;
};

function latest(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] != null) return values[i];
  return null;
}

/** A y-axis tick: few digits, the unit after it. */
function tick(value, suffix) {
  const text = Math.abs(value) >= 10 ? value.toFixed(0) : String(Number(value.toFixed(2)));
  return `${text}${suffix}`;
}

/**
 * A chart bound to an element. `draw()` renders if visible (else on the next show), at most
 * once per MIN_REDRAW_MS: even a cheap redraw, times five open dashboards every second, costs
 * the machine they run on more than the data is worth. `draw(true)` (a tab shown, a setting
 * changed) renders at once. Subclasses paint.
 */
const MIN_REDRAW_MS = 5000;
// and no more often than keeps each chart under ~0.25 % of a core: on a slow machine (where
// the cluster shares the cores with the browser) a 25 ms redraw waits 10 s, a 5 ms one 5 s
const COST_BUDGET = 0.0025;
const MAX_REDRAW_MS = 12000; // but a live chart is never older than this

class Chart {
  constructor(el) {
    this.el = el;
    this.stale = true;
    this.drawnAt = 0;
    this.timer = null;
    this.onScreen = true; // until the observer says otherwise
    this.costMs = 0; // recent redraw time, smoothed
    charts.add(this);
    if (typeof IntersectionObserver !== "undefined") {
      // a chart scrolled out of view is not redrawn; it draws once when it comes back into view
      new IntersectionObserver(([entry]) => {
        this.onScreen = entry.isIntersecting;
        if (this.onScreen && this.stale) this.draw(true);
      }).observe(el);
    }
    if (typeof ResizeObserver !== "undefined") {
      // the page's layout changed the chart's width (a window resized, a card grid reflowed)
      this.resized = new ResizeObserver(() => {
        if (!this.stale && this.visible()) this.fit();
      });
      this.resized.observe(el);
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
    const started = performance.now();
    if (!this.paint(palette())) return;
    this.stale = false;
    this.drawnAt = performance.now();
    const cost = this.drawnAt - started;
    this.costMs = this.costMs ? 0.7 * this.costMs + 0.3 * cost : cost;
  }

  /** After its tab became visible: draw if stale, and fit the (possibly new) width. */
  shown() {
    if (this.stale) this.draw(true);
    else this.fit();
  }
}

/** A uPlot chart: `options(palette)` once per theme, `data()` (uPlot's columns) on every draw. */
class PlotChart extends Chart {
  constructor(el, options, data) {
    super(el);
    this.options = options;
    this.data = data;
    this.plot = null;
    this.theme = "";
  }

  paint(p) {
    if (!chartsReady()) {
      if (!this.el.firstChild) {
        this.el.append(h("div", { class: "chart-missing", text: "The chart library did not load: reload the page." }));
      }
      return false;
    }
    const data = this.data();
    const theme = JSON.stringify(p);
    if (this.plot && theme === this.theme) {
      this.plot.setData(data);
      return true;
    }
    // first draw, or the light/dark theme changed: uPlot bakes colours in, so build it again
    const old = this.plot?.root.querySelector(".u-legend");
    if (old && this.resized) this.resized.unobserve(old);
    this.plot?.destroy();
    this.el.replaceChildren();
    this.theme = theme;
    const size = { width: this.el.clientWidth, height: this.el.clientHeight };
    this.plot = new window.uPlot({ ...this.options(p), ...size }, data, this.el);
    // uPlot lays its DOM out in a microtask: the legend's height is known after it
    queueMicrotask(() => this.fit());
    // a legend that wraps onto a second line (a narrow card, longer values) takes plot height
    const legend = this.plot.root.querySelector(".u-legend");
    if (legend && this.resized) this.resized.observe(legend);
    return true;
  }

  /** The legend sits under the plot inside the element: the plot gets the height that is left. */
  fit() {
    if (!this.plot) return;
    const legend = this.plot.root.querySelector(".u-legend");
    const width = this.el.clientWidth;
    const height = Math.max(60, this.el.clientHeight - (legend ? legend.offsetHeight : 0));
    if (width && (width !== this.plot.width || height !== this.plot.height)) this.plot.setSize({ width, height });
  }
}

/** Dashed horizontal lines (alert thresholds) drawn over the plot, labelled at the right end. */
function drawLines(u, lines) {
  const { ctx } = u;
  const { left, width } = u.bbox;
  const px = window.uPlot.pxRatio;
  ctx.save();
  for (const line of lines) {
    const y = Math.round(u.valToPos(line.y, "y", true)) + 0.5;
    ctx.strokeStyle = line.color;
    ctx.fillStyle = line.color;
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash([6 * px, 4 * px]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.font = `${10 * px}px system-ui, sans-serif`;
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(line.label, left + width - 4 * px, y - 3 * px);
  }
  ctx.restore();
}

/** What every time chart shares: time x axis over the chosen window, y from 0, the units on both. */
function timeOptions(p, { series, yTitle = "", yMax = null, ySuffix = "", lines = () => [], windowSeconds, value }) {
  const axis = { stroke: p.text, font: FONT, grid: { stroke: p.grid, width: 1 }, ticks: { stroke: p.grid, width: 1 } };
  // the legend shows the hovered point's values, and the latest ones while nothing is hovered
  const legendValue = (u, v, i, idx) => value(idx == null ? latest(u.data[i]) : v);
  return {
    legend: { live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } }, // a live chart is not zoomed
    scales: {
      x: { time: true, range: (u, min, max) => xRange(min, max, windowSeconds()) },
      y: { range: (u, min, max) => [0, yMax ?? (max > 0 ? window.uPlot.rangeNum(0, max, 0.1, true)[1] : 1)] },
    },
    axes: [
      { ...axis, values: "{HH}:{mm}:{ss}", space: 70 },
      {
        ...axis,
        label: yTitle || undefined,
        labelFont: FONT,
        values: (u, splits) => splits.map((v) => tick(v, ySuffix)),
        // wide enough for the longest tick label (units included)
        size: (u, values) => 22 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)),
      },
    ],
    series: [
      { label: "time", value: (u, v, i, idx) => (idx == null ? "latest" : clockOf(v)) },
      ...series.map((s) => ({ ...s, value: legendValue })),
    ],
    hooks: { draw: [(u) => drawLines(u, lines(p))] },
  };
}

/** Time series from metric samples: series = [{name, y: sample => number, color, fill?}]. */
export function timeChart(el, getSamples, series, { yTitle = "", yMax = null, ySuffix = "", shapes = () => [], windowSeconds }) {
  const value = (v) => (v == null ? "–" : `${v.toFixed(1)}${ySuffix}`);
  const options = (p) =>
    timeOptions(p, {
      yTitle,
      yMax,
      ySuffix,
      lines: shapes,
      windowSeconds,
      value,
      series: series.map((s) => ({
        label: s.name,
        stroke: p[s.color],
        width: 2,
        fill: s.fill ? `${p[s.color]}22` : undefined,
        points: { show: false },
      })),
    });
  const data = () => {
    const samples = getSamples();
    return [samples.map((s) => seconds(s.timestamp)), ...series.map((s) => samples.map(finite(s.y)))];
  };
  return new PlotChart(el, options, data);
}

/** A dashed horizontal line across a time chart (an alert threshold). */
export function thresholdLine(y, color, label) {
  return { y, color, label };
}

export function barChart(el, getBars, { windowSeconds, name }) {
  const value = (v) => (v == null ? "–" : `${Math.round(v).toLocaleString()} ${name}`);
  const options = (p) =>
    timeOptions(p, {
      windowSeconds,
      value,
      series: [{ label: name, stroke: p.accent, fill: p.accent, width: 0, paths: window.uPlot.paths.bars({ size: [0.85, 40] }), points: { show: false } }],
    });
  const data = () => {
    const { x, y } = getBars();
    return [x.map(seconds), y];
  };
  return new PlotChart(el, options, data);
}

const DONUT_LABELS = ["Completed", "Running", "Pending", "Failed"];
const DONUT_HOLE = 0.62;

/** Task states as a donut: total in the middle, a legend with the counts, a slice's count on hover. */
class DonutChart extends Chart {
  constructor(el, getCounts) {
    super(el);
    this.getCounts = getCounts;
    this.hovered = -1;
    this.slices = []; // [start, end] angles of the last drawing
    this.canvas = null;
  }

  build() {
    this.canvas = h("canvas", { class: "donut-canvas", role: "img", "aria-label": "Tasks by state" });
    this.values = DONUT_LABELS.map(() => h("span", { class: "donut-value", text: "0" }));
    this.swatches = DONUT_LABELS.map(() => h("span", { class: "donut-swatch" }));
    this.rows = DONUT_LABELS.map((label, i) =>
      h("li", {}, [this.swatches[i], h("span", { class: "donut-label", text: label }), this.values[i]]),
    );
    this.el.replaceChildren(h("div", { class: "donut" }, [this.canvas, h("ul", { class: "donut-legend" }, this.rows)]));
    this.canvas.addEventListener("mousemove", (event) => this.hover(this.sliceAt(event)));
    this.canvas.addEventListener("mouseleave", () => this.hover(-1));
  }

  sliceAt(event) {
    const box = this.canvas.getBoundingClientRect();
    const dx = event.clientX - box.left - box.width / 2;
    const dy = event.clientY - box.top - box.height / 2;
    const r = Math.hypot(dx, dy) / (Math.min(box.width, box.height) / 2);
    if (r < DONUT_HOLE || r > 1) return -1;
    const angle = (Math.atan2(dy, dx) + Math.PI / 2 + 2 * Math.PI) % (2 * Math.PI);
    return this.slices.findIndex(([a, b]) => angle >= a && angle < b);
  }

  hover(i) {
    if (i === this.hovered) return;
    this.hovered = i;
    this.paint(palette());
  }

  paint(p) {
    if (!this.canvas) this.build();
    const counts = this.getCounts();
    const colors = [p.ok, p.accent, p.warn, p.bad];
    const total = counts.reduce((a, b) => a + b, 0);
    const side = Math.max(60, Math.min(this.el.clientHeight, this.canvas.parentElement.clientWidth * 0.6));
    const ratio = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(side * ratio)) {
      this.canvas.width = this.canvas.height = Math.round(side * ratio);
      this.canvas.style.width = this.canvas.style.height = `${side}px`;
    }
    const ctx = this.canvas.getContext("2d");
    const c = (side * ratio) / 2;
    const outer = c - 2 * ratio;
    ctx.clearRect(0, 0, 2 * c, 2 * c);
    this.slices = [];
    let start = 0;
    counts.forEach((count, i) => {
      const end = total ? start + (2 * Math.PI * count) / total : start;
      this.slices.push([start, end]);
      if (end > start) {
        ctx.beginPath();
        ctx.arc(c, c, i === this.hovered ? outer : outer - 3 * ratio, start - Math.PI / 2, end - Math.PI / 2);
        ctx.arc(c, c, outer * DONUT_HOLE, end - Math.PI / 2, start - Math.PI / 2, true);
        ctx.closePath();
        ctx.fillStyle = colors[i];
        ctx.fill();
        ctx.strokeStyle = p.surface;
        ctx.lineWidth = 2 * ratio;
        ctx.stroke();
      }
      start = end;
    });
    if (!total) {
      ctx.beginPath();
      ctx.arc(c, c, outer - 3 * ratio, 0, 2 * Math.PI);
      ctx.arc(c, c, outer * DONUT_HOLE, 2 * Math.PI, 0, true);
      ctx.fillStyle = p.grid;
      ctx.fill();
    }
    const shown = this.hovered >= 0 ? counts[this.hovered] : total;
    const caption = this.hovered >= 0 ? DONUT_LABELS[this.hovered].toLowerCase() : total ? "tasks" : "no tasks yet";
    ctx.textAlign = "center";
    ctx.fillStyle = p.strong;
    ctx.font = `600 ${22 * ratio}px system-ui, sans-serif`;
    ctx.textBaseline = "alphabetic";
    ctx.fillText(shown.toLocaleString(), c, c + 4 * ratio);
    ctx.fillStyle = p.text;
    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(caption, c, c + 10 * ratio);
    counts.forEach((count, i) => {
      this.values[i].textContent = count.toLocaleString();
      this.swatches[i].style.background = colors[i];
      this.rows[i].classList.toggle("hovered", i === this.hovered);
    });
    return true;
  }

  fit() {
    this.paint(palette());
  }
}

export function donutChart(el, getCounts) {
  return new DonutChart(el, getCounts);
}

/** Theme switch (the system's light/dark): every chart redraws with the new colours. */
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const chart of charts) chart.draw(true);
});
