// DOM helpers. Data only ever reaches the page as text (textContent, attributes), never as HTML.

export const $ = (id) => document.getElementById(id);

/** h("td", {class: "num", text: 3}, child...) builds an element; strings become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Set text only when it changed (cheap to call every tick). */
export function setText(target, value) {
  const el = typeof target === "string" ? $(target) : target;
  const text = value === null || value === undefined ? "–" : String(value);
  if (el && el.textContent !== text) el.textContent = text;
}

/** Only http(s) links from data become hrefs (never javascript: or data: URLs). */
export function safeUrl(value) {
  try {
    const url = new URL(String(value), window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A meter (bar) element's fill, 0..100, coloured by thresholds. */
export function setMeter(meter, percent, warnAt = 75, badAt = 90) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  meter.firstElementChild.style.width = `${value}%`;
  meter.classList.toggle("warn", value >= warnAt && value < badAt);
  meter.classList.toggle("bad", value >= badAt);
}

export function meter() {
  return h("div", { class: "meter" }, h("span"));
}

/**
 * Keep a tbody's rows in step with `items` without rebuilding them: rows are keyed,
 * created once, updated in place, moved into order and removed when their item goes.
 */
export function syncRows(tbody, rows, items, key, create, update) {
  const seen = new Set();
  items.forEach((item, index) => {
    const id = key(item);
    seen.add(id);
    let row = rows.get(id);
    if (!row) {
      row = create(item);
      rows.set(id, row);
    }
    update(row, item);
    if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
}

/**
 * A short message in the corner. With `undo` (an async function) it carries an Undo button
 * and stays longer: an action that can be taken back says so where the person is looking.
 */
export function toast(message, kind = "", { undo = null } = {}) {
  const el = h("div", { class: `toast ${kind}`, role: "status" }, h("span", { text: message }));
  if (undo) {
    const button = h("button", { class: "toast-undo", type: "button", text: "Undo" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      el.remove();
      try {
        await undo();
      } catch (error) {
        toast(error.message, "bad");
      }
    });
    el.append(button);
  }
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "bad" ? 7000 : undo ? 10000 : 3500);
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain http on a LAN address is not a secure context: fall back to a selection copy
  const area = h("textarea", { readonly: true, style: "position:fixed;opacity:0" });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}
