// The admin API (issue 13) as the Keys and Usage pages use it: every endpoint and field they
// rely on is named here, in one place (the server side is api/admin.py).
//
//   GET    /me                           the signed-in key: {id, source, name, prefix, role, ...}
//   GET    /me/usage?by=&since=&until=   the signed-in key's own usage
//   GET    /admin/keys                   {keys: [key]}
//   POST   /admin/keys                   create: the fields below -> key + `key` (the secret, once)
//   PATCH  /admin/keys/{id}              change the fields given (null clears a limit)
//   POST   /admin/keys/{id}/disable      turn a key off (and /enable: on again)
//   POST   /admin/keys/{id}/rotate       a new secret for the same key -> key + `key`
//   DELETE /admin/keys/{id}              revoke (204)
//   GET    /admin/usage?by=&since=&until=[&format=csv]   everyone's usage
//
// A key: id, name (no spaces or "="), prefix, role (admin, user, metrics), models (names and
// glob patterns; [] = all), rpm, tpm, tokens_per_day, tokens_per_month, requests_per_day,
// requests_per_month, max_concurrent, weight, expires_at, disabled, labels ({name: value}),
// created_at, updated_at, last_used_at (times in UTC).
// A usage report: {by, since, until, rows: [{<by columns: day, key (+ name), model, api>,
// requests, errors, prompt_tokens, generated_tokens, total_tokens}]}.

function list(answer, field) {
  if (Array.isArray(answer)) return answer;
  return answer && Array.isArray(answer[field]) ? answer[field] : [];
}

/** The key record and its secret (shown once) from a create or rotate answer. */
function created(answer) {
  const { key, ...record } = answer;
  return { key: record, secret: typeof key === "string" ? key : "" };
}

export async function listKeys(api) {
  return list(await api.get("/admin/keys"), "keys");
}

export async function createKey(api, fields) {
  return created(await api.json("POST", "/admin/keys", fields));
}

export async function updateKey(api, id, changes) {
  return api.json("PATCH", `/admin/keys/${encodeURIComponent(id)}`, changes);
}

export async function setDisabled(api, id, disabled) {
  const action = disabled ? "disable" : "enable";
  return api.json("POST", `/admin/keys/${encodeURIComponent(id)}/${action}`, {});
}

export async function rotateKey(api, id) {
  return created(await api.json("POST", `/admin/keys/${encodeURIComponent(id)}/rotate`, {}));
}

export async function revokeKey(api, id) {
  await api.json("DELETE", `/admin/keys/${encodeURIComponent(id)}`);
}

function usagePath(everyone, by, since, until, format) {
  const query = new URLSearchParams({ by: by.join(","), since, until });
  if (format) query.set("format", format);
  return `${everyone ? "/admin/usage" : "/me/usage"}?${query}`;
}

/** Usage rows grouped `by` (e.g. ["day", "key"]) between two UTC days (inclusive). */
export async function usage(api, { everyone, by, since, until }) {
  return list(await api.get(usagePath(everyone, by, since, until)), "rows");
}

/** The same report as CSV, as the server writes it. */
export async function usageCsv(api, { everyone, by, since, until }) {
  const response = await api.request("GET", usagePath(everyone, by, since, until, "csv"));
  return response.text();
}
