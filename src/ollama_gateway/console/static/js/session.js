// Signing in: the key, where it is kept, and what it may do.
//
// The key is kept in sessionStorage (this tab only, gone when it closes) and sent in the
// Authorization header of each API call. It never goes into a URL, a cookie or a log line.
// What the console shows follows what the key may actually do: each page's API is asked once at
// sign-in, so the console never shows a page the server would refuse.

import { Api, ApiError } from "./api.js";

const STORE = "ollama-gateway.key";

export function storedKey() {
  try {
    return window.sessionStorage.getItem(STORE) || "";
  } catch {
    return "";
  }
}

export function keep(key) {
  window.sessionStorage.setItem(STORE, key);
}

export function forget() {
  window.sessionStorage.removeItem(STORE);
}

const REFUSED = [401, 403, 404, 405];

/** The status of a GET: 200, or the refusal (401, 403, 404, 405); other failures are thrown. */
async function probe(api, path) {
  try {
    await api.get(path);
    return 200;
  } catch (err) {
    if (err instanceof ApiError && REFUSED.includes(err.status)) return err.status;
    throw err;
  }
}

/** The signed-in key's own record from the admin API, when the server has one (issue 13). */
async function whoami(api) {
  try {
    return await api.get("/me");
  } catch (err) {
    if (err instanceof ApiError && REFUSED.includes(err.status)) return null;
    throw err;
  }
}

/**
 * Connect with `key` ("" for none): the server's info and what the key may do.
 * Throws ApiError(401) when the server wants a (different) key.
 */
export async function connect(key) {
  const api = new Api(key);
  const info = await api.get("/info"); // GET / is Ollama's plain "Ollama is running"
  const today = new Date().toISOString().slice(0, 10);
  const [me, tags, status, keys, usage] = await Promise.all([
    whoami(api),
    probe(api, "/api/tags"),
    probe(api, "/status"),
    probe(api, "/admin/keys"),
    probe(api, `/me/usage?by=day&since=${today}&until=${today}`),
  ]);
  // Without an admin API (a gateway before issue 13) every key may do everything.
  const roles = keys !== 404;
  let role = me?.role;
  if (!role) role = keys === 200 || !roles ? "admin" : tags === 200 ? "user" : "metrics";
  return {
    api,
    info,
    open: !key,
    me,
    role,
    roles,
    can: {
      chat: tags === 200,
      models: tags === 200,
      manage: role === "admin",
      status: status === 200,
      keys: keys === 200,
      usage: usage === 200,
    },
  };
}
