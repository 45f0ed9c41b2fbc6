// The admin API (issue 13) as the Keys and Usage pages use it: every endpoint and field they
// rely on is named here, in one place.
//
//   GET    /me                          the signed-in key: {id, name, prefix, role, ...}
//   GET    /me/usage?by=&since=&until=  the signed-in key's own usage rows
//   GET    /admin/keys                  [key] or {keys: [key]}
//   POST   /admin/keys                  create: fields below -> key, plus the plaintext `key`
//   PATCH  /admin/keys/{id}             update any of the fields below (disable: {disabled})
//   POST   /admin/keys/{id}/rotate      a new secret for the key -> key, plus `key`
//   DELETE /admin/keys/{id}             revoke
//   GET    /admin/usage?by=&since=&until=   everyone's usage rows
//
// A key: id, name, prefix, role, models (names and glob patterns; [] = all), rpm, tpm,
// tokens_per_day, tokens_per_month, requests_per_day, requests_per_month, max_concurrent,
// expires_at (ISO time or null), disabled, labels ({name: value}), created_at, last_used_at.
// A usage row: the `by` columns (day, key, model, api) and requests, errors, prompt_tokens,
// generated_tokens, total_tokens.

export const KEY_FIELDS = [
  "name", "role", "models", "rpm", "tpm", "tokens_per_day", "tokens_per_month",
  "requests_per_day", "requests_per_month", "max_concurrent", "expires_at", "labels",
];

function list(answer, field) {
  if (Array.isArray(answer)) return answer;
  return (answer && Array.isArray(answer[field])) ? answer[field] : [];
}

/** The plaintext of a key the server just created or rotated (shown once). */
export function secretOf(answer) {
  for (const name of ["key", "plaintext", "api_key", "secret"]) {
    if (answer && typeof answer[name] === "string") return answer[name];
  }
  return "";
}

function recordOf(answer) {
  if (answer && typeof answer.key === "object" && answer.key) return answer.key;
  if (answer && typeof answer.record === "object" && answer.record) return answer.record;
  return answer;
}

export async function listKeys(api) {
  return list(await api.get("/admin/keys"), "keys");
}

export async function createKey(api, fields) {
  const answer = await api.json("POST", "/admin/keys", fields);
  return { key: recordOf(answer), secret: secretOf(answer) };
}

export async function updateKey(api, id, changes) {
  return recordOf(await api.json("PATCH", `/admin/keys/${encodeURIComponent(id)}`, changes));
}

export async function rotateKey(api, id) {
  const answer = await api.json("POST", `/admin/keys/${encodeURIComponent(id)}/rotate`, {});
  return { key: recordOf(answer), secret: secretOf(answer) };
}

export async function revokeKey(api, id) {
  await api.json("DELETE", `/admin/keys/${encodeURIComponent(id)}`);
}

/** Usage rows grouped `by` (e.g. ["day", "key"]) between two days (inclusive, YYYY-MM-DD). */
export async function usage(api, { everyone, by, since, until }) {
  const query = new URLSearchParams({ by: by.join(","), since, until });
  const path = everyone ? "/admin/usage" : "/me/usage";
  return list(await api.get(`${path}?${query}`), "usage");
}
