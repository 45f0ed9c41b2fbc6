// The playground's side panels: its settings, and the code for the request it would send.

import { BASE } from "./api.js";
import { chat, requestBody } from "./chat.js";
import { copyButton, field, h } from "./dom.js";
import { curl, ollamaPython, openaiPython } from "./snippets.js";

export function settingsPanel(models, onChange) {
  const bind = (control, name, event = "input") => {
    control.addEventListener(event, () => {
      chat[name] = control.type === "checkbox" ? control.checked : control.value;
      onChange(name);
    });
    return control;
  };
  const select = bind(
    h(
      "select",
      { id: "model" },
      models.map((name) => h("option", { value: name, selected: name === chat.model }, name)),
    ),
    "model",
    "change",
  );
  const schema = bind(
    h("textarea", { id: "schema", rows: 6, spellcheck: "false", value: chat.schema }),
    "schema",
  );
  const schemaField = field("JSON schema", schema);
  schemaField.hidden = chat.output !== "schema";
  const output = bind(
    h(
      "select",
      { id: "output" },
      [
        ["text", "Text"],
        ["json", "JSON"],
        ["schema", "JSON schema"],
      ].map(([value, label]) => h("option", { value, selected: value === chat.output }, label)),
    ),
    "output",
    "change",
  );
  output.addEventListener("change", () => {
    schemaField.hidden = chat.output !== "schema";
  });
  const wide = window.matchMedia("(min-width: 900px)").matches;
  return h(
    "details",
    { class: "settings card", open: wide },
    h("summary", null, "Settings"),
    field("Model", select),
    field(
      "System prompt",
      bind(h("textarea", { id: "system", rows: 3, value: chat.system }), "system"),
    ),
    h(
      "div",
      { class: "grid-2" },
      field(
        "Temperature",
        bind(
          h("input", {
            id: "temperature",
            type: "number",
            min: 0,
            max: 2,
            step: 0.1,
            placeholder: "default",
            value: chat.temperature,
          }),
          "temperature",
        ),
      ),
      field(
        "Max tokens",
        bind(
          h("input", {
            id: "max-tokens",
            type: "number",
            min: 1,
            step: 1,
            placeholder: "default",
            value: chat.maxTokens,
          }),
          "maxTokens",
        ),
      ),
      field(
        "Seed",
        bind(
          h("input", {
            id: "seed",
            type: "number",
            step: 1,
            placeholder: "random",
            value: chat.seed,
          }),
          "seed",
        ),
      ),
      field(
        "Reasoning",
        bind(
          h(
            "select",
            { id: "think" },
            [
              ["default", "Default"],
              ["on", "Think"],
              ["off", "Don't think"],
            ].map(([value, label]) =>
              h("option", { value, selected: value === chat.think }, label),
            ),
          ),
          "think",
          "change",
        ),
      ),
    ),
    field("Output", output),
    schemaField,
  );
}

export function codePanel(context, draftText) {
  const origin = window.location.origin + BASE;
  const withKey = !context.open;
  const tabs = [
    ["curl", (body) => curl(origin, body, withKey)],
    ["Python ollama", (body) => ollamaPython(origin, body, withKey)],
    ["Python openai", (body) => openaiPython(origin, body, withKey)],
  ];
  const pre = h("pre", { class: "code", id: "snippet", tabindex: 0 });
  let current = 0;
  const buttons = tabs.map(([label], i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        class: "tab",
        "data-snippet": label,
        on: {
          click: () => {
            current = i;
            refresh();
          },
        },
      },
      label,
    ),
  );
  function refresh() {
    let text;
    try {
      text = tabs[current][1](requestBody(draftText()));
    } catch (err) {
      text = `# the JSON schema is not valid JSON: ${err.message}`;
    }
    pre.textContent = text;
    buttons.forEach((b, i) => b.setAttribute("aria-selected", String(i === current)));
  }
  const details = h(
    "details",
    { class: "card code-panel", id: "code-panel" },
    h("summary", null, "Code for this request"),
    h("p", { class: "muted" }, "The key is read from the OLLAMA_GATEWAY_KEY environment variable."),
    h("div", { role: "tablist", class: "tabs" }, buttons),
    pre,
    copyButton(() => pre.textContent, "Copy code", pre),
  );
  details.addEventListener("toggle", refresh);
  return { node: details, refresh };
}
