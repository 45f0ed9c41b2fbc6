// The console's only way to the gateway: its public and admin HTTP APIs, with the key in the
// Authorization header (never in a URL or a cookie).

/** Where the API lives: the console's own origin and path prefix (a reverse proxy may add one). */
export const BASE = window.location.pathname.replace(/\/ui(\/.*)?$/, "");

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The message of an error body in any of the gateway's shapes (Ollama, OpenAI, plain). */
export function errorMessage(body, status) {
  if (body && typeof body === "object") {
    if (typeof body.error === "string") return body.error;
    if (body.error && typeof body.error.message === "string") return body.error.message;
    if (typeof body.detail === "string") return body.detail;
  }
  return `the gateway answered ${status}`;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  return new ApiError(response.status, errorMessage(body, response.status));
}

export class Api {
  constructor(key) {
    this.key = key || "";
  }

  headers(extra = {}) {
    const headers = { ...extra };
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    return headers;
  }

  /** The raw Response of a request; throws ApiError for a non-2xx answer or no answer. */
  async request(method, path, { body, signal, headers } = {}) {
    const init = { method, headers: this.headers(headers), signal, cache: "no-store" };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(BASE + path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "cannot reach the gateway");
    }
    if (!response.ok) throw await failure(response);
    return response;
  }

  /** The JSON answer of a request (null for an empty body). */
  async json(method, path, body, options = {}) {
    const response = await this.request(method, path, { ...options, body });
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  get(path, options) {
    return this.json("GET", path, undefined, options);
  }

  /** The objects of an NDJSON stream as they arrive; an in-band {"error"} line throws. */
  async *ndjson(path, body, { signal } = {}) {
    const response = await this.request("POST", path, { body, signal });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buffered += decoder.decode(value || new Uint8Array(), { stream: !done });
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield parseLine(line);
          newline = buffered.indexOf("\n");
        }
        if (done) break;
      }
      if (buffered.trim()) yield parseLine(buffered.trim());
    } finally {
      reader.releaseLock();
    }
  }
}

function parseLine(line) {
  const data = JSON.parse(line);
  if (data && data.error !== undefined) throw new ApiError(200, errorMessage(data, 200));
  return data;
}
