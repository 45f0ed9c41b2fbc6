// Live status: health of the upstream, loaded models, slots and queue per model, tokens/s now.
//
// It polls GET /status (the numbers of /metrics as JSON) every two seconds while the tab is
// visible. Polling rather than server-sent events: EventSource cannot send an Authorization
// header, and the key never goes into a URL. Rates are derived here from two readings of the
// cumulative counters (tokens are counted when a generation ends, as /metrics counts them).

import { ApiError } from "../api.js";
import { sparkline } from "../chart.js";
import { fill, h } from "../dom.js";
import { bytes, count, rate, seconds, until } from "../format.js";

const POLL_MS = 2000;
const WINDOW_S = 10; // tokens/s now: over the last ten seconds of readings
const HISTORY = 90; // readings kept for the chart (three minutes)

function generated(reading) {
  return reading.models.reduce((sum, m) => sum + (m.generated_tokens || 0), 0);
}

/** Tokens per second between the newest reading and the oldest one within `WINDOW_S`. */
export function tokensPerSecond(readings, pick = generated) {
  if (readings.length < 2) return 0;
  const newest = readings[readings.length - 1];
  const oldest = readings.find((r) => newest.time - r.time <= WINDOW_S + 0.5) || readings[0];
  const elapsed = newest.time - oldest.time;
  if (elapsed <= 0) return 0;
  return Math.max(0, (pick(newest) - pick(oldest)) / elapsed);
}

function modelTokens(name) {
  return (reading) => reading.models.find((m) => m.name === name)?.generated_tokens || 0;
}

function tile(label, value, id, kind) {
  return h(
    "div",
    { class: ["tile", kind], id },
    h("span", { class: "label" }, label),
    h("strong", { class: "value" }, value),
  );
}

function upstreams(status) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "upstreams" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Upstream", "Address", "Health", "Errors"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        null,
        status.upstreams.map((u) =>
          h(
            "tr",
            { "data-upstream": u.name },
            h("th", { scope: "row" }, u.name === "embedded" ? "embedded engine" : u.name),
            h("td", null, u.url || "in this process"),
            h(
              "td",
              null,
              h("span", { class: ["pill", u.healthy ? "ok" : "bad"] }, u.status),
              u.reason ? h("small", { class: "muted" }, ` ${u.reason}`) : null,
            ),
            h(
              "td",
              null,
              Object.entries(u.errors)
                .map(([k, v]) => `${k}: ${v}`)
                .join(", ") || "none",
            ),
          ),
        ),
      ),
    ),
  );
}

function models(status, readings) {
  if (!status.models.length)
    return h("p", { class: "muted" }, "No model has been used or loaded yet.");
  const head = [
    "Model",
    "Loaded",
    "Slots in use",
    "Queued",
    "Tokens/s, 10 s",
    "Avg speed",
    "Avg first token",
    "Generated",
    "Unloads",
  ];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "status-models" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          head.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        null,
        status.models.map((m) =>
          h(
            "tr",
            { "data-model": m.name },
            h("th", { scope: "row" }, m.name),
            h("td", null, m.loaded ? `yes · ${bytes(m.size)}` : "no"),
            h(
              "td",
              { "data-field": "running" },
              h("meter", {
                min: 0,
                max: status.parallel,
                value: m.running,
                "aria-label": `${m.running} of ${status.parallel} slots`,
              }),
              ` ${m.running} / ${status.parallel}`,
            ),
            h("td", { "data-field": "queued", class: "num" }, count(m.queued)),
            h("td", { class: "num" }, rate(tokensPerSecond(readings, modelTokens(m.name)))),
            h(
              "td",
              { class: "num" },
              m.generations ? rate(m.tokens_per_second_sum / m.generations) : "–",
            ),
            h(
              "td",
              { class: "num" },
              m.first_tokens ? seconds(m.first_token_seconds_sum / m.first_tokens) : "–",
            ),
            h("td", { class: "num" }, count(m.generated_tokens)),
            h("td", null, m.expires_at ? until(m.expires_at) : "–"),
          ),
        ),
      ),
    ),
  );
}

function view(status, readings) {
  const throughput = readings.map((r, i) => (i ? tokensPerSecond(readings.slice(0, i + 1)) : 0));
  const running = status.models.reduce((sum, m) => sum + m.running, 0);
  const queued = status.models.reduce((sum, m) => sum + m.queued, 0);
  const ready = status.ready;
  return [
    h(
      "div",
      { class: "tiles" },
      tile(
        "Health",
        ready ? "ready" : status.upstreams[0]?.status || "not ready",
        "tile-health",
        ready ? "ok" : "bad",
      ),
      tile("Generating", String(running), "tile-running"),
      tile("Queued", String(queued), "tile-queued"),
      tile(
        "Tokens/s, last 10 s",
        rate(throughput[throughput.length - 1] || 0).replace(" tokens/s", ""),
        "tile-rate",
      ),
      tile("Loaded models", String(status.models.filter((m) => m.loaded).length), "tile-loaded"),
      tile("Requests in flight", String(status.requests.in_flight), "tile-flight"),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Tokens per second"),
      sparkline(throughput, {
        label: "Tokens per second, last three minutes",
        unit: " tokens/s",
        width: 640,
        height: 96,
      }),
      h(
        "p",
        { class: "muted small" },
        "Generated tokens over the last ten seconds, counted when each generation ends " +
          "(as /metrics counts them); the last three minutes.",
      ),
    ),
    h("section", { class: "card" }, h("h2", null, "Models"), models(status, readings)),
    h("section", { class: "card" }, h("h2", null, "Upstreams"), upstreams(status)),
    h(
      "p",
      { class: "muted", id: "status-updated" },
      `${status.backend} backend · gateway ${status.version} · ${count(status.requests.total)} requests answered · ` +
        `updated ${new Date(status.time * 1000).toLocaleTimeString()}`,
    ),
  ];
}

export function render(context, container) {
  const body = h("div", { id: "status-body" }, h("p", { class: "muted" }, "Loading…"));
  const readings = [];
  let timer = null;
  let stopped = false;

  async function poll() {
    timer = null;
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        const status = await context.api.get("/status");
        readings.push(status);
        if (readings.length > HISTORY) readings.shift();
        if (!stopped) fill(body, view(status, readings));
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          context.expired();
          return;
        }
        if (!stopped) fill(body, h("p", { class: "error", role: "alert" }, err.message));
      }
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  fill(container, h("h1", { id: "page-title" }, "Live status"), body);
  poll();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
