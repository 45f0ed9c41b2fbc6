// Charts as SVG built from elements (no library): a sparkline for live numbers and stacked bars
// by day for usage. Colours come from the stylesheet (classes series-0 ... series-7), so they
// follow the light or dark theme; every mark has a <title> for its exact value.

import { h, s } from "./dom.js";

const SERIES_CLASSES = 8;

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
  return step * power;
}

function short(value) {
  if (value >= 1e9) return `${+(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(1)}`;
}

/** A small line chart of the last values (oldest first). */
export function sparkline(values, { label, width = 320, height = 64, unit = "" } = {}) {
  const max = niceMax(Math.max(0, ...values));
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 4) - 2).toFixed(1)}`,
  );
  const last = values.length ? values[values.length - 1] : 0;
  return s(
    "svg",
    {
      class: "sparkline",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${label}: ${short(last)}${unit} now, at most ${short(Math.max(0, ...values))}${unit}`,
      preserveAspectRatio: "none",
    },
    s("line", { class: "axis", x1: 0, y1: height - 1, x2: width, y2: height - 1 }),
    points.length > 1
      ? [
          s("polygon", {
            class: "area",
            points: `0,${height} ${points.join(" ")} ${width},${height}`,
          }),
          s("polyline", { class: "line", points: points.join(" ") }),
        ]
      : null,
  );
}

/**
 * Stacked bars: one bar per category (a day), one segment per series (a key or a model).
 * `series` is [{name, values: [number per category]}].
 */
export function stackedBars({ categories, series, label, unit = "", height = 220 }) {
  const width = Math.max(960, categories.length * 28 + 56); // drawn to the card's width
  const left = 48;
  const bottom = 28;
  const plotHeight = height - bottom - 8;
  const totals = categories.map((_, i) =>
    series.reduce((sum, one) => sum + (one.values[i] || 0), 0),
  );
  const max = niceMax(Math.max(0, ...totals));
  const slot = (width - left - 8) / Math.max(1, categories.length);
  const barWidth = Math.max(4, Math.min(40, slot * 0.7));
  const y = (v) => 8 + plotHeight - (v / max) * plotHeight;
  const grid = [0, 0.5, 1].map((f) => [
    s("line", { class: "grid", x1: left, x2: width - 8, y1: y(max * f), y2: y(max * f) }),
    s(
      "text",
      { class: "tick", x: left - 6, y: y(max * f) + 4, "text-anchor": "end" },
      short(max * f),
    ),
  ]);
  const labelEvery = Math.ceil(categories.length / Math.max(1, Math.floor((width - left) / 64)));
  const bars = categories.map((category, i) => {
    const x = left + i * slot + (slot - barWidth) / 2;
    let base = 0;
    const segments = series.map((one, n) => {
      const value = one.values[i] || 0;
      if (!value) return null;
      const rect = s(
        "rect",
        {
          class: `bar series-${n % SERIES_CLASSES}`,
          x: x.toFixed(1),
          y: y(base + value).toFixed(1),
          width: barWidth.toFixed(1),
          height: Math.max(0.5, y(base) - y(base + value)).toFixed(1),
          "data-category": category,
          "data-series": one.name,
          "data-value": value,
        },
        s("title", null, `${category} · ${one.name}: ${value.toLocaleString("en-US")}${unit}`),
      );
      base += value;
      return rect;
    });
    const tick =
      i % labelEvery === 0
        ? s(
            "text",
            {
              class: "tick",
              x: (x + barWidth / 2).toFixed(1),
              y: height - 10,
              "text-anchor": "middle",
            },
            category.slice(5),
          )
        : null;
    return [segments, tick];
  });
  const total = totals.reduce((a, b) => a + b, 0);
  const svg = s(
    "svg",
    {
      class: "bars",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${label}: ${total.toLocaleString("en-US")}${unit} over ${categories.length} days`,
    },
    grid,
    bars,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((one, n) =>
      h(
        "li",
        null,
        s(
          "svg",
          { class: "swatch", viewBox: "0 0 10 10", "aria-hidden": "true" },
          s("rect", { class: `series-${n % SERIES_CLASSES}`, width: 10, height: 10, rx: 2 }),
        ),
        one.name,
      ),
    ),
  );
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", null, label),
    h("div", { class: "chart-scroll" }, svg),
    legend,
  );
}
