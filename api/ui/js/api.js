// The management API over fetch. The access token lives in memory and in sessionStorage (so a
// reload keeps the session; closing the tab ends it); it is never put in a URL.
const STORE = "tollgate.session";

let current = load();
const listeners = new Set();

function load() {
  try { return JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch { return null; }
}

export function session() { return current; }

export function setSession(s) {
  current = s;
  if (s) sessionStorage.setItem(STORE, JSON.stringify(s)); else sessionStorage.removeItem(STORE);
  listeners.forEach((fn) => fn(s));
}

export function onSession(fn) { listeners.add(fn); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const FALLBACK = {
  400: "The server refused the input.",
  401: "Your session has ended: sign in again.",
  403: "Your role does not allow this, or the object is in use.",
  404: "Not found, or not visible to you.",
  409: "That name is already used.",
  413: "The request is too large.",
  503: "The service is temporarily unavailable; try again in a moment.",
};

function words(status, body) {
  if (body && typeof body.message === "string" && body.message) return body.message;
  return FALLBACK[status] || `The server answered HTTP ${status}.`;
}

/** Call the API; resolves with the JSON answer, rejects with an ApiError whose message is words. */
export async function api(method, path, { body, query } = {}) {
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")) : null;
  const url = path + (qs && String(qs) ? `?${qs}` : "");
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (current?.token) headers.authorization = `Bearer ${current.token}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                             credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "The server could not be reached; check that Tollgate is running.");
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok || (data && data.success === false && method === "GET")) {
    if (res.status === 401 && path !== "/user/login" && current) setSession(null);
    throw new ApiError(res.status, words(res.status, data));
  }
  return data || {};
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body) => api("POST", path, { body });
export const put = (path, body) => api("PUT", path, { body });
export const del = (path) => api("DELETE", path);
