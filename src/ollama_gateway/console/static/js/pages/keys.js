// Keys (admin): create (the secret shown once), list with last use, edit role, models, limits,
// quotas and expiry, disable, rotate, revoke. Everything goes through the admin API (admin.js).

import { createKey, listKeys, revokeKey, rotateKey, setDisabled, updateKey } from "../admin.js";
import { ApiError } from "../api.js";
import { ask, formDialog, tell } from "../dialog.js";
import { copyButton, field, fill, h } from "../dom.js";
import { count, utc, when } from "../format.js";

const LIMITS = [
  ["rpm", "Requests / minute"],
  ["tpm", "Tokens / minute"],
  ["tokens_per_day", "Tokens / day"],
  ["tokens_per_month", "Tokens / month"],
  ["requests_per_day", "Requests / day"],
  ["requests_per_month", "Requests / month"],
  ["max_concurrent", "Concurrent requests"],
  ["weight", "Queue weight"],
];

function labelsText(labels) {
  return Object.entries(labels || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** The fields of a key as a form; read() returns the API's fields (null for "no limit"). */
function keyForm(key = {}) {
  const inputs = {};
  inputs.name = h("input", {
    type: "text",
    name: "name",
    value: key.name || "",
    required: true,
    maxlength: 200,
    pattern: "[^\\s=]+",
  });
  inputs.role = h(
    "select",
    { name: "role" },
    ["user", "admin", "metrics"].map((role) =>
      h("option", { value: role, selected: role === (key.role || "user") }, role),
    ),
  );
  inputs.models = h("input", {
    type: "text",
    name: "models",
    value: (key.models || []).join(", "),
    placeholder: "all models",
  });
  for (const [name] of LIMITS) {
    inputs[name] = h("input", {
      type: "number",
      name,
      min: 1,
      step: 1,
      value: key[name] ?? "",
      placeholder: name === "weight" ? "1" : "no limit",
    });
  }
  inputs.expires_at = h("input", {
    type: "date",
    name: "expires_at",
    value: key.expires_at ? String(key.expires_at).slice(0, 10) : "",
  });
  inputs.labels = h("input", {
    type: "text",
    name: "labels",
    value: labelsText(key.labels),
    placeholder: "team=search, owner=ana",
  });
  const node = h(
    "div",
    { class: "key-form" },
    h(
      "div",
      { class: "grid-2" },
      field("Name", inputs.name, "No spaces; shown in logs and usage."),
      field(
        "Role",
        inputs.role,
        "admin: everything; user: chat and its models; metrics: status only.",
      ),
    ),
    field(
      "Models",
      inputs.models,
      "Names or patterns such as qwen*, separated by commas; empty: every model.",
    ),
    h(
      "div",
      { class: "grid-2" },
      LIMITS.map(([name, label]) => field(label, inputs[name])),
    ),
    h(
      "div",
      { class: "grid-2" },
      field("Expires (end of day, UTC)", inputs.expires_at),
      field("Labels", inputs.labels),
    ),
  );

  function read() {
    const name = inputs.name.value.trim();
    if (!name) throw new Error("Give the key a name.");
    if (/[\s=]/.test(name)) throw new Error('A key\'s name has no spaces and no "=".');
    const fields = {
      name,
      role: inputs.role.value,
      models: inputs.models.value
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean),
      expires_at: inputs.expires_at.value ? `${inputs.expires_at.value}T23:59:59Z` : null,
      labels: {},
    };
    for (const [limit, label] of LIMITS) {
      const text = inputs[limit].value.trim();
      const value = text === "" ? (limit === "weight" ? 1 : null) : Number(text);
      if (value !== null && !(Number.isInteger(value) && value > 0)) {
        throw new Error(`${label}: a whole number above 0, or empty for no limit.`);
      }
      fields[limit] = value;
    }
    for (const pair of inputs.labels.value
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [k, ...rest] = pair.split("=");
      if (!k.trim() || !rest.length) throw new Error(`Labels: write name=value, not "${pair}".`);
      fields.labels[k.trim()] = rest.join("=").trim();
    }
    return fields;
  }
  return { node, read };
}

function showSecret(title, secret) {
  const text = h("p", { class: "secret", id: "new-secret" }, secret);
  return tell(
    title,
    h("p", null, "Copy it now: it is shown only once. The gateway keeps only its SHA-256 digest."),
    text,
    h(
      "p",
      null,
      copyButton(() => secret, "Copy key", text),
    ),
  );
}

function state(key) {
  if (key.disabled) return h("span", { class: "pill bad" }, "disabled");
  if (key.expires_at && utc(key.expires_at) < new Date())
    return h("span", { class: "pill bad" }, "expired");
  return h("span", { class: "pill ok" }, "active");
}

function limitsText(key) {
  const parts = LIMITS.filter(([name]) => key[name] && !(name === "weight" && key[name] === 1)).map(
    ([name, label]) => `${count(key[name])} ${label.toLowerCase()}`,
  );
  return parts.length ? parts.join(", ") : "none";
}

function table(keys, actions) {
  if (!keys.length)
    return h(
      "p",
      { class: "muted" },
      "No keys in the database yet. Keys from settings or the keys file are not listed here.",
    );
  const head = [
    "Name",
    "Key",
    "Role",
    "Models",
    "Limits and quotas",
    "Expires",
    "Last used",
    "State",
    "Actions",
  ];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "keys-table" },
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
        keys.map((key) =>
          h(
            "tr",
            { "data-key": key.id, "data-name": key.name },
            h("th", { scope: "row" }, key.name || "–"),
            h("td", null, h("code", null, `${key.prefix || ""}…`)),
            h("td", null, key.role),
            h(
              "td",
              null,
              key.models?.length ? key.models.join(", ") : h("span", { class: "muted" }, "all"),
            ),
            h("td", null, limitsText(key)),
            h("td", null, key.expires_at ? when(key.expires_at) : "never"),
            h("td", { "data-field": "last-used" }, when(key.last_used_at)),
            h("td", null, state(key)),
            h(
              "td",
              { class: "row-actions" },
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "data-action": "edit",
                  on: { click: () => actions.edit(key) },
                },
                "Edit",
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "data-action": "toggle",
                  on: { click: () => actions.toggle(key) },
                },
                key.disabled ? "Enable" : "Disable",
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "data-action": "rotate",
                  on: { click: () => actions.rotate(key) },
                },
                "Rotate",
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "small danger",
                  "data-action": "revoke",
                  on: { click: () => actions.revoke(key) },
                },
                "Revoke",
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

export function render(context, container) {
  const { api } = context;
  const list = h("div", { id: "keys-list", class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const notice = h("p", { role: "status", id: "keys-notice" });

  async function refresh() {
    try {
      fill(list, table(await listKeys(api), actions));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) context.expired();
      else fill(list, h("p", { class: "error", role: "alert" }, err.message));
    }
  }

  async function act(done, call) {
    notice.className = "";
    try {
      const result = await call();
      notice.className = "ok";
      notice.textContent = done;
      await refresh();
      return result;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) context.expired();
      notice.className = "error";
      notice.textContent = err.message;
      return null;
    }
  }

  const actions = {
    async create() {
      const form = keyForm();
      const fields = await formDialog({
        title: "New key",
        body: form.node,
        confirm: "Create key",
        read: form.read,
      });
      if (!fields) return;
      const made = await act(`created key ${fields.name}`, () => createKey(api, fields));
      if (made) await showSecret(`Key ${fields.name}`, made.secret);
    },
    async edit(key) {
      const form = keyForm(key);
      const fields = await formDialog({
        title: `Edit ${key.name}`,
        body: form.node,
        read: form.read,
      });
      if (fields) await act(`saved ${fields.name}`, () => updateKey(api, key.id, fields));
    },
    async toggle(key) {
      const disabled = !key.disabled;
      if (
        disabled &&
        !(await ask({
          title: `Disable ${key.name}?`,
          confirm: "Disable",
          danger: true,
          message: "Requests with it are refused until it is enabled again.",
        }))
      )
        return;
      await act(`${disabled ? "disabled" : "enabled"} ${key.name}`, () =>
        setDisabled(api, key.id, disabled),
      );
    },
    async rotate(key) {
      if (
        !(await ask({
          title: `Rotate ${key.name}?`,
          confirm: "Rotate",
          danger: true,
          message: "A new secret replaces the old one, which stops working at once.",
        }))
      )
        return;
      const made = await act(`rotated ${key.name}`, () => rotateKey(api, key.id));
      if (made) await showSecret(`New secret for ${key.name}`, made.secret);
    },
    async revoke(key) {
      if (
        !(await ask({
          title: `Revoke ${key.name}?`,
          confirm: "Revoke",
          danger: true,
          message: "The key is deleted; its usage history stays.",
        }))
      )
        return;
      await act(`revoked ${key.name}`, () => revokeKey(api, key.id));
    },
  };

  fill(
    container,
    h(
      "div",
      { class: "page-head" },
      h("h1", { id: "page-title" }, "Keys"),
      h(
        "button",
        { type: "button", class: "primary", id: "create-key", on: { click: actions.create } },
        "New key",
      ),
    ),
    notice,
    list,
  );
  refresh();
  return null;
}
