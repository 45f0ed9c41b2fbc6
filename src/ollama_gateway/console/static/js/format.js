// Numbers, sizes, times and durations as people read them.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** 96576768 -> "96.6 MB" (decimal units, as Ollama prints them). */
export function bytes(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  let amount = Number(value);
  let unit = 0;
  while (amount >= 1000 && unit < UNITS.length - 1) {
    amount /= 1000;
    unit += 1;
  }
  return `${amount >= 100 || unit === 0 ? Math.round(amount) : amount.toFixed(1)} ${UNITS[unit]}`;
}

/** 12345 -> "12,345". */
export function count(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
}

/** Seconds -> "0.42 s", "12.3 s", "4 min 05 s". */
export function seconds(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value < 10) return `${value.toFixed(2)} s`;
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  const rest = Math.round(value % 60);
  return `${minutes} min ${String(rest).padStart(2, "0")} s`;
}

/** Tokens per second with one decimal. */
export function rate(value) {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "–"
    : `${value.toFixed(1)} tokens/s`;
}

/** A time in the future relative to now: "in 4 min", "in 12 s", "now". */
export function until(when, now = Date.now()) {
  if (when === null || when === undefined) return "–";
  const at = typeof when === "number" ? when * 1000 : Date.parse(when);
  if (Number.isNaN(at)) return "–";
  const left = Math.round((at - now) / 1000);
  if (left > 10 * 365 * 86400) return "never (kept loaded)";
  if (left <= 0) return "now";
  if (left < 60) return `in ${left} s`;
  if (left < 3600) return `in ${Math.round(left / 60)} min`;
  return `in ${(left / 3600).toFixed(1)} h`;
}

/** An ISO time string as a Date; one without a zone is UTC (the admin API's times are). */
export function utc(text) {
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(text) || !/T\d/.test(text);
  return new Date(zoned ? text : `${text}Z`);
}

/** An ISO time or Unix seconds -> "2026-12-01 23:45" in local time. */
export function when(value) {
  if (value === null || value === undefined || value === "") return "never";
  const date = typeof value === "number" ? new Date(value * 1000) : utc(String(value));
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** A Date -> "YYYY-MM-DD" (local). */
export function day(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
