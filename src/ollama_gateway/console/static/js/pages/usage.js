// Usage: tokens and requests per day as charts, by key or by model, over a date range; the
// same rows as a table with totals, and as CSV. An admin sees every key; a user key its own.

import { usage, usageCsv } from "../admin.js";
import { ApiError } from "../api.js";
import { stackedBars } from "../chart.js";
import { download, field, fill, h } from "../dom.js";
import { count } from "../format.js";

const COLUMNS = ["requests", "errors", "prompt_tokens", "generated_tokens", "total_tokens"];
const MAX_DAYS = 366;

function daysBetween(since, until) {
  const days = [];
  const at = new Date(`${since}T00:00:00Z`);
  const end = new Date(`${until}T00:00:00Z`);
  while (at <= end && days.length < MAX_DAYS) {
    days.push(at.toISOString().slice(0, 10));
    at.setUTCDate(at.getUTCDate() + 1);
  }
  return days;
}

/** The keys or models in the order of their total tokens, then requests (the same colour in
 * both charts). */
function order(rows, dimension, names) {
  const sums = new Map();
  for (const row of rows) {
    const name = names(row[dimension]);
    const [tokens, requests] = sums.get(name) || [0, 0];
    sums.set(name, [tokens + (row.total_tokens || 0), requests + (row.requests || 0)]);
  }
  return [...sums.entries()].sort((a, b) => b[1][0] - a[1][0] || b[1][1] - a[1][1]).map(([n]) => n);
}

/** Chart series: one per key or model (in `names` order), a value per day. */
function series(rows, days, dimension, metric, names, ordered) {
  const byName = new Map(ordered.map((name) => [name, new Array(days.length).fill(0)]));
  for (const row of rows) {
    const i = days.indexOf(row.day);
    if (i >= 0) byName.get(names(row[dimension]))[i] += row[metric] || 0;
  }
  return ordered.map((name) => ({ name, values: byName.get(name) }));
}

function totals(rows) {
  const sum = Object.fromEntries(COLUMNS.map((c) => [c, 0]));
  for (const row of rows) for (const c of COLUMNS) sum[c] += row[c] || 0;
  return sum;
}

function table(rows, dimension, names) {
  if (!rows.length)
    return h("p", { class: "muted", id: "usage-empty" }, "No requests in this range.");
  const sum = totals(rows);
  const head = [
    "Day",
    dimension === "key" ? "Key" : "Model",
    "Requests",
    "Errors",
    "Prompt tokens",
    "Generated tokens",
    "Total tokens",
  ];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "usage-table" },
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
        rows.map((row) =>
          h(
            "tr",
            null,
            h("td", null, row.day),
            h("td", null, names(row[dimension])),
            COLUMNS.map((c) => h("td", { class: "num", "data-column": c }, count(row[c] || 0))),
          ),
        ),
      ),
      h(
        "tfoot",
        null,
        h(
          "tr",
          { id: "usage-totals" },
          h("th", { scope: "row", colspan: 2 }, "Total"),
          COLUMNS.map((c) => h("td", { class: "num", "data-column": c }, count(sum[c]))),
        ),
      ),
    ),
  );
}

export function render(context, container) {
  const everyone = context.can.keys;
  // days are UTC days, as the gateway counts them
  const today = new Date();
  const start = new Date(today.getTime() - 13 * 86400000);
  const utcDay = (date) => date.toISOString().slice(0, 10);
  const since = h("input", { type: "date", id: "usage-since", value: utcDay(start) });
  const until = h("input", { type: "date", id: "usage-until", value: utcDay(today) });
  const dimension = h(
    "select",
    { id: "usage-by" },
    (everyone
      ? [
          ["key", "By key"],
          ["model", "By model"],
        ]
      : [["model", "By model"]]
    ).map(([value, label]) => h("option", { value }, label)),
  );
  const body = h("div", { id: "usage-body" }, h("p", { class: "muted" }, "Loading…"));
  let keyNames = new Map();
  let current = { rows: [], by: "model", since: "", until: "" };

  const names = (value) => keyNames.get(value) || value || "–";

  async function load() {
    const by = dimension.value;
    const range = { since: since.value, until: until.value };
    if (!range.since || !range.until || range.since > range.until) {
      fill(
        body,
        h("p", { class: "error", role: "alert" }, "Choose a start day on or before the end day."),
      );
      return;
    }
    try {
      const rows = await usage(context.api, { everyone, by: ["day", by], ...range });
      keyNames = new Map(rows.filter((r) => r.name).map((r) => [r.key, r.name]));
      current = { rows, by, ...range };
      const days = daysBetween(range.since, range.until);
      const ordered = order(rows, by, names);
      fill(
        body,
        h(
          "div",
          { class: "card" },
          stackedBars({
            categories: days,
            series: series(rows, days, by, "total_tokens", names, ordered),
            label: "Tokens per day",
            unit: " tokens",
          }),
          stackedBars({
            categories: days,
            series: series(rows, days, by, "requests", names, ordered),
            label: "Requests per day",
            unit: " requests",
          }),
        ),
        h("div", { class: "card" }, table(rows, by, names)),
      );
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) context.expired();
      else fill(body, h("p", { class: "error", role: "alert" }, err.message));
    }
  }

  async function downloadCsv() {
    try {
      const text = await usageCsv(context.api, {
        everyone,
        by: ["day", current.by],
        since: current.since,
        until: current.until,
      });
      download(`usage-${current.since}-${current.until}-by-${current.by}.csv`, text, "text/csv");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) context.expired();
      else fill(body, h("p", { class: "error", role: "alert" }, err.message));
    }
  }

  const form = h(
    "form",
    {
      class: "card filters",
      on: {
        submit: (e) => {
          e.preventDefault();
          load();
        },
      },
    },
    field("From", since),
    field("To", until),
    field("Group", dimension),
    h("button", { type: "submit", class: "primary", id: "usage-show" }, "Show"),
    h("button", { type: "button", id: "usage-csv", on: { click: downloadCsv } }, "Download CSV"),
  );
  dimension.addEventListener("change", load);

  fill(container, h("h1", { id: "page-title" }, everyone ? "Usage" : "My usage"), form, body);
  load();
  return null;
}
