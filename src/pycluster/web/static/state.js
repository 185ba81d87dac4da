// What the page knows: the latest snapshot and the metric samples the charts draw.

const MAX_SAMPLES = 2000; // an hour at the default 2 s sampling, with room to spare
const INTERVALS = [1, 2, 5, 10, 30]; // what the stream accepts
const WINDOWS = [300, 600, 1800, 3600];

function stored(key, allowed, fallback) {
  const value = Number(localStorage.getItem(key));
  return allowed.includes(value) ? value : fallback;
}

export const state = {
  snapshot: null,
  samples: [],
  interval: stored("pycluster-interval", INTERVALS, 2),
  windowSeconds: stored("pycluster-window", WINDOWS, 600),
};

/** Add samples newer than the newest we hold (the stream repeats recent ones on purpose). */
export function addSamples(list) {
  let added = 0;
  for (const sample of list || []) {
    const newest = state.samples.length ? Date.parse(state.samples[state.samples.length - 1].timestamp) : 0;
    if (sample && Date.parse(sample.timestamp) > newest) {
      state.samples.push(sample);
      added += 1;
    }
  }
  if (state.samples.length > MAX_SAMPLES) state.samples.splice(0, state.samples.length - MAX_SAMPLES);
  return added;
}

/** Replace the samples with a longer history (merging what the stream added meanwhile). */
export function setHistory(list) {
  const newer = state.samples;
  state.samples = [...(list || [])];
  addSamples(newer);
}

/** Samples inside the chart window. */
export function windowSamples() {
  const samples = state.samples;
  if (!samples.length) return samples;
  const start = Date.parse(samples[samples.length - 1].timestamp) - state.windowSeconds * 1000;
  let i = samples.length;
  while (i > 0 && Date.parse(samples[i - 1].timestamp) >= start) i -= 1;
  return samples.slice(i);
}

export function remember(key, value) {
  state[key] = value;
  localStorage.setItem(`pycluster-${key === "windowSeconds" ? "window" : key}`, String(value));
}

/** Apply a stream delta to the snapshot we hold (the server's web/delta.py describes the format). */
export function applyPatch(target, patch) {
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isObject(patch)) return patch;
  if (Array.isArray(target) && "$key" in patch) {
    // items by identity (job_id, address): a new job on top does not resend the rest
    const key = patch.$key;
    const before = new Map(target.map((item) => [String(item[key]), item]));
    return (patch.$order || [...before.keys()]).map((id) => {
      const change = patch.$items[id];
      if (change === undefined) return before.get(id);
      return "$set" in change ? change.$set : applyPatch(before.get(id), change);
    });
  }
  if (Array.isArray(target) && "$len" in patch) {
    const items = target.slice(0, patch.$len);
    for (const [key, value] of Object.entries(patch)) {
      if (key === "$len") continue;
      const i = Number(key);
      if (i >= items.length) items.push(value);
      else if (isObject(value) && "$set" in value) items[i] = value.$set;
      else items[i] = applyPatch(items[i], value);
    }
    return items;
  }
  if (!isObject(target)) return patch;
  const result = { ...target };
  for (const key of patch.$del || []) delete result[key];
  for (const [key, value] of Object.entries(patch)) {
    if (key !== "$del") result[key] = key in result ? applyPatch(result[key], value) : value;
  }
  return result;
}
