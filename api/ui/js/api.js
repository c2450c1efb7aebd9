// The management API over fetch. The access token lives in memory and in sessionStorage (so a
// reload keeps the session; closing the tab ends it); it is never put in a URL. The refresh
// token stays in memory only: an expired access token is renewed once, silently, until a reload.
const STORE = "tollgate.session";

let current = load();
let refreshToken = null;
let ended = null;   // why the last session ended, for the sign-in page
const listeners = new Set();

function load() {
  try { return JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch { return null; }
}

export function session() { return current; }

/** Start (or end, with null) a session; `refresh` is kept in memory only. */
export function setSession(s, { refresh = null, reason = null } = {}) {
  current = s;
  refreshToken = s ? refresh : null;
  ended = s ? null : reason;
  if (s) sessionStorage.setItem(STORE, JSON.stringify(s)); else sessionStorage.removeItem(STORE);
  listeners.forEach((fn) => fn(s));
}

export function onSession(fn) { listeners.add(fn); }

/** Why the last session ended (e.g. it expired); null after a sign-out or before any session. */
export function endedBecause() { return ended; }

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

let renewing = null;
/** Renew the access token with the refresh token; concurrent callers share one attempt. */
function renew() {
  if (!renewing) renewing = renewOnce().finally(() => { renewing = null; });
  return renewing;
}

async function renewOnce() {
  const token = refreshToken;
  refreshToken = null;   // one try
  if (!token) return false;
  try {
    const r = await send("POST", "/user/refresh", { body: { refreshToken: token } }, false);
    if (!r.res.ok || !r.data?.accessToken) return false;
    current = { ...current, token: r.data.accessToken };
    sessionStorage.setItem(STORE, JSON.stringify(current));
    refreshToken = r.data.refreshToken;
    return true;
  } catch { return false; }
}

async function send(method, path, { body, query }, auth = true) {
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")) : null;
  const url = path + (qs && String(qs) ? `?${qs}` : "");
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (auth && current?.token) headers.authorization = `Bearer ${current.token}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                             credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "The server could not be reached; check that Tollgate is running.");
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  return { res, data };
}

/** Call the API; resolves with the JSON answer, rejects with an ApiError whose message is words. */
export async function api(method, path, opts = {}) {
  let { res, data } = await send(method, path, opts);
  if (res.status === 401 && path !== "/user/login" && current && (await renew())) {
    ({ res, data } = await send(method, path, opts));
  }
  if (!res.ok) {
    if (res.status === 401 && path !== "/user/login" && current) {
      setSession(null, { reason: "Your session has ended: sign in again." });
    }
    throw new ApiError(res.status, words(res.status, data));
  }
  return data || {};
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body) => api("POST", path, { body });
export const put = (path, body) => api("PUT", path, { body });
export const del = (path) => api("DELETE", path);
