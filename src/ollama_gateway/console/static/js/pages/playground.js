// The playground: chat with a model through /api/chat (NDJSON), watching the reply arrive.
//
// Stop aborts the fetch: the browser closes the connection and the gateway stops generating (its
// running count drops, as Live status shows). The conversation lives in this tab only (kept
// across pages, gone on sign-out) and can be exported as JSON.

import { ApiError, BASE } from "../api.js";
import { messageView, replyStats, update } from "../chatview.js";
import { copyButton, download, field, fill, h } from "../dom.js";
import { curl, ollamaPython, openaiPython } from "../snippets.js";

// Kept while the tab is open, so leaving the page and coming back keeps the conversation.
const chat = {
  model: "",
  system: "",
  temperature: "",
  maxTokens: "",
  seed: "",
  think: "default",
  output: "text",
  schema:
    '{\n  "type": "object",\n  "properties": {"answer": {"type": "string"}},\n  "required": ["answer"]\n}',
  messages: [],
};

/** Models this key may use: /api/tags, plus loaded ones and the default model it may serve. */
async function modelNames(context) {
  const [tags, ps] = await Promise.all([
    context.api.get("/api/tags"),
    context.api.get("/api/ps").catch(() => ({ models: [] })),
  ]);
  const names = [...(tags.models || []), ...(ps.models || [])].map((m) => m.name || m.model);
  // the default model is served even when not in the store (a .gguf path): listed too, unless
  // the key may only use some models (then /api/tags already says which)
  const limited = Boolean(context.me?.models?.length);
  if (context.info.default_model && !limited) names.push(context.info.default_model);
  return [...new Set(names.filter(Boolean))];
}

function number(text, parse) {
  const value = parse(String(text).trim());
  return String(text).trim() === "" || Number.isNaN(value) ? undefined : value;
}

/** Ollama's options for the settings the user filled in (empty ones: the server's default). */
function chatOptions() {
  const options = {};
  const temperature = number(chat.temperature, Number.parseFloat);
  const maxTokens = number(chat.maxTokens, (t) => Number.parseInt(t, 10));
  const seed = number(chat.seed, (t) => Number.parseInt(t, 10));
  if (temperature !== undefined) options.temperature = temperature;
  if (maxTokens !== undefined) options.num_predict = maxTokens;
  if (seed !== undefined) options.seed = seed;
  return options;
}

/** The /api/chat body for the conversation so far (plus `draft`, the text not yet sent). */
export function requestBody(draft) {
  const messages = [];
  if (chat.system.trim()) messages.push({ role: "system", content: chat.system });
  for (const m of chat.messages) {
    if (m.role === "user" || (m.role === "assistant" && !m.error)) {
      messages.push({ role: m.role, content: m.content });
    }
  }
  if (draft) messages.push({ role: "user", content: draft });
  const body = { model: chat.model, messages, stream: true };
  const options = chatOptions();
  if (Object.keys(options).length) body.options = options;
  if (chat.output === "json") body.format = "json";
  if (chat.output === "schema") body.format = JSON.parse(chat.schema); // checked before sending
  if (chat.think !== "default") body.think = chat.think === "on";
  return body;
}

function settingsPanel(models, onChange) {
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

function codePanel(context, draftText) {
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

export function render(context, container) {
  let controller = null;
  let closed = false;
  const transcript = h("div", { class: "transcript", id: "transcript", "aria-live": "polite" });
  const input = h("textarea", {
    id: "prompt",
    rows: 3,
    placeholder: "Message (Enter to send, Shift+Enter for a new line)",
    "aria-label": "Message",
  });
  const sendButton = h("button", { type: "submit", class: "primary", id: "send" }, "Send");
  const stopButton = h(
    "button",
    { type: "button", class: "danger", id: "stop", hidden: true },
    "Stop",
  );
  const formError = h("p", { class: "error", role: "alert", id: "composer-error" });
  const code = codePanel(context, () => input.value.trim());

  function setBusy(busy) {
    sendButton.hidden = busy;
    stopButton.hidden = !busy;
    if (!busy) input.focus();
  }

  function redraw() {
    fill(
      transcript,
      chat.messages.length
        ? chat.messages.map((m) => messageView(m).article)
        : h(
            "p",
            { class: "muted empty" },
            "Ask something to start. Replies stream in as the model writes them.",
          ),
    );
  }

  async function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    formError.textContent = "";
    let body;
    try {
      body = requestBody(text);
    } catch (err) {
      formError.textContent = `The JSON schema is not valid JSON: ${err.message}`;
      return;
    }
    if (!body.model) {
      formError.textContent = "Choose a model first.";
      return;
    }
    input.value = "";
    chat.messages.push({ role: "user", content: text });
    const reply = {
      role: "assistant",
      model: body.model,
      content: "",
      thinking: "",
      streaming: true,
    };
    chat.messages.push(reply);
    redraw();
    const view = messageView(reply);
    transcript.lastElementChild.replaceWith(view.article);
    view.article.scrollIntoView({ block: "end" });
    controller = new AbortController();
    setBusy(true);
    const timing = { sent: performance.now(), first: null, last: null, chunks: 0 };
    let final = null;
    try {
      for await (const chunk of context.api.ndjson("/api/chat", body, {
        signal: controller.signal,
      })) {
        const message = chunk.message || {};
        if (message.content || message.thinking) {
          timing.last = performance.now();
          if (timing.first === null) timing.first = timing.last;
          timing.chunks += 1;
        }
        reply.content += message.content || "";
        reply.thinking += message.thinking || "";
        if (chunk.done) final = chunk;
        update(view);
      }
    } catch (err) {
      if (err.name === "AbortError") {
        reply.stopped = true;
      } else if (err instanceof ApiError && err.status === 401) {
        context.expired();
        return;
      } else {
        reply.error = err.message;
      }
    } finally {
      controller = null;
      reply.streaming = false;
      reply.stats = replyStats(timing, final);
      if (!closed) {
        update(view, true);
        setBusy(false);
      }
    }
  }

  const form = h(
    "form",
    {
      class: "composer",
      on: {
        submit: (e) => {
          e.preventDefault();
          send();
        },
      },
    },
    input,
    h("div", { class: "actions" }, sendButton, stopButton),
    formError,
  );
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener("input", () => {
    if (code.node.open) code.refresh();
  });
  stopButton.addEventListener("click", () => controller?.abort());
  container.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && controller) controller.abort();
  });

  const toolbar = h(
    "div",
    { class: "toolbar" },
    h(
      "button",
      {
        type: "button",
        id: "new-chat",
        on: {
          click: () => {
            if (controller) controller.abort();
            chat.messages = [];
            redraw();
            code.refresh();
          },
        },
      },
      "New chat",
    ),
    h("button", { type: "button", id: "export", on: { click: () => exportChat() } }, "Export JSON"),
  );

  fill(
    container,
    h("h1", { id: "page-title", class: "visually-hidden" }, "Playground"),
    h(
      "div",
      { class: "playground" },
      h(
        "div",
        { class: "side", id: "settings-slot" },
        h("p", { class: "muted" }, "Loading models…"),
      ),
      h("div", { class: "chat" }, transcript, form, toolbar, code.node),
    ),
  );
  redraw();

  modelNames(context)
    .then((models) => {
      if (!models.includes(chat.model)) {
        chat.model = models.includes(context.info.default_model)
          ? context.info.default_model
          : models[0] || "";
      }
      const slot = container.querySelector("#settings-slot");
      fill(
        slot,
        models.length
          ? settingsPanel(models, () => {
              if (code.node.open) code.refresh();
            })
          : h("p", { class: "error" }, "This key may not use any model."),
      );
      input.focus();
    })
    .catch((err) => {
      if (err instanceof ApiError && err.status === 401) context.expired();
      else
        fill(
          container.querySelector("#settings-slot"),
          h("p", { class: "error", role: "alert" }, err.message),
        );
    });

  return () => {
    closed = true;
    if (controller) controller.abort();
  };
}

function exportChat() {
  const data = {
    exported_at: new Date().toISOString(),
    model: chat.model,
    system: chat.system || null,
    options: chatOptions(),
    format: chat.output === "text" ? null : chat.output === "json" ? "json" : safeSchema(),
    messages: chat.messages.map(({ role, content, thinking, model, stats, stopped, error }) => ({
      role,
      content,
      thinking: thinking || undefined,
      model,
      stats,
      stopped,
      error,
    })),
  };
  const stamp = data.exported_at.slice(0, 19).replace(/[:T]/g, "-");
  download(`conversation-${stamp}.json`, `${JSON.stringify(data, null, 2)}\n`, "application/json");
}

function safeSchema() {
  try {
    return JSON.parse(chat.schema);
  } catch {
    return chat.schema;
  }
}
