// Numbers for people: bytes, percentages, durations, times.

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

export function bytes(value) {
  let n = Number(value) || 0;
  let unit = 0;
  while (n >= 1000 && unit < UNITS.length - 1) {
    n /= 1000;
    unit += 1;
  }
  return `${n >= 100 || unit === 0 ? n.toFixed(0) : n.toFixed(1)} ${UNITS[unit]}`;
}

export const rate = (value) => `${bytes(value)}/s`;

export function percent(value, digits = 0) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(digits)}%`;
}

export function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  let s = Math.max(0, Math.round(Number(seconds)));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hrs = Math.floor(s / 3600);
  s -= hrs * 3600;
  const min = Math.floor(s / 60);
  s -= min * 60;
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${String(min).padStart(2, "0")}m`;
  if (min) return `${min}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

export function clock(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "–" : date.toLocaleTimeString([], { hour12: false });
}

export function dateTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "–" : date.toLocaleString([], { hour12: false });
}

export function ago(iso) {
  if (!iso) return "–";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(seconds)) return "–";
  return seconds < 5 ? "just now" : `${duration(seconds)} ago`;
}

export const shortId = (id) => String(id || "").replace(/^job_/, "");

// GPU readings (GET /api/llm/gpu/*) come in the units people read, not bytes: memory in GB of
// 2**30 bytes (nvidia-smi's MiB / 1024), power in watts, temperature in °C, clocks in MHz.
// They are labelled GiB so that a "40GB" card reads "40.0 GiB", not "42.9 GB".
const missing = (value) => value === null || value === undefined || value === "" || !Number.isFinite(Number(value));

export function gib(value) {
  if (missing(value)) return "–";
  const n = Number(value);
  if (n > 0 && n < 1) return `${Math.round(n * 1024)} MiB`;
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} GiB`;
}

/** "18.0 / 40.0 GiB": used of total, the total's unit for both when it is GiB. */
export function gibOf(used, total) {
  if (missing(total)) return gib(used);
  return `${missing(used) ? "–" : gib(used).replace(/ GiB$/, "")} / ${gib(total)}`;
}

export function watts(value) {
  if (missing(value)) return "–";
  const n = Number(value);
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} W`;
}

export const celsius = (value) => (missing(value) ? "–" : `${Number(value).toFixed(0)} °C`);
export const megahertz = (value) => (missing(value) ? "–" : `${Number(value).toFixed(0)} MHz`);
