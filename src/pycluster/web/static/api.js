// Talking to the REST API: the cookie session, JSON requests, readable errors, the event stream URL.
//
// Signing in sets an HttpOnly session cookie the page never sees (fetch and EventSource send it
// by themselves, same-origin) and a readable CSRF cookie, echoed as X-CSRF-Token on every change.
// Nothing is kept in sessionStorage or localStorage, and the token never goes in a URL.

const CSRF_COOKIE = "pycluster-csrf-";
const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let unauthorized = () => {};

/** The CSRF cookie's value: the one for this port (cookies do not tell ports apart), else any. */
export function csrfToken() {
  const port = window.location.port || (window.location.protocol === "https:" ? "443" : "80");
  const cookies = document.cookie.split(";").map((c) => c.trim().split("="));
  const mine = cookies.find(([name]) => name === `${CSRF_COOKIE}${port}`);
  const any = cookies.find(([name]) => name.startsWith(CSRF_COOKIE));
  return decodeURIComponent((mine || any || [])[1] || "");
}

export const auth = {
  /** Signed in by cookie (a head without a token, or a trusted caller, needs no sign-in). */
  get signedIn() {
    return Boolean(csrfToken());
  },
  /** Trade the token for the session cookies; throws ApiError (401 for a wrong token). */
  async signIn(token) {
    await api("/api/auth/session", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  },
  async signOut() {
    await api("/api/auth/session", { method: "DELETE" }).catch(() => null);
  },
  onUnauthorized(handler) {
    unauthorized = handler;
  },
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** FastAPI errors: a string, or a list of {loc, msg} for invalid input. */
export function detailText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".") || "input"}: ${d.msg}`).join("\n");
  }
  return `request failed (HTTP ${status})`;
}

export async function api(path, { method = "GET", body, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = csrfToken();
  if (csrf && CHANGES.has(method)) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (response.status === 401) unauthorized();
  if (!response.ok) throw new ApiError(response.status, detailText(data, response.status));
  return data;
}

/** EventSource sends the session cookie by itself (same origin): no token in the URL. */
export function streamUrl(interval) {
  const query = new URLSearchParams({ interval: String(interval), deltas: "1" }); // a snapshot, then what changed
  return `/api/dashboard/stream?${query}`;
}
