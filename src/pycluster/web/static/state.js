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
