// The playground: chat with a model through /api/chat (NDJSON), watching the reply arrive.
//
// Stop aborts the fetch: the browser closes the connection and the gateway stops generating (its
// running count drops, as Live status shows). The conversation lives in this tab only (kept
// across pages, gone on sign-out) and can be exported as JSON.

import { ApiError } from "../api.js";
import { chat, exportChat, modelNames, requestBody } from "../chat.js";
import { codePanel, settingsPanel } from "../chatpanels.js";
import { messageView, replyStats, update } from "../chatview.js";
import { fill, h } from "../dom.js";
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
