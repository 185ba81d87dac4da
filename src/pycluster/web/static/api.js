// Talking to the REST API: the token, JSON requests, readable errors, the event stream URL.

const TOKEN_KEY = "pycluster-token";
let unauthorized = () => {};

export const auth = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
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

export async function api(path, { method = "GET", body, token = auth.token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (response.status === 401) unauthorized();
  if (!response.ok) throw new ApiError(response.status, detailText(data, response.status));
  return data;
}

/** EventSource cannot send headers: the stream (only) takes the token as a query parameter. */
export function streamUrl(interval) {
  const query = new URLSearchParams({ interval: String(interval) });
  if (auth.token) query.set("token", auth.token);
  return `/api/dashboard/stream?${query}`;
}
