// Models: what the key may use, what is loaded and until when; pull (with live progress and
// cancel), copy and delete for keys allowed to manage models.

import { ApiError } from "../api.js";
import { ask } from "../dialog.js";
import { fill, h } from "../dom.js";
import { bytes, until } from "../format.js";

const REFRESH_MS = 10000; // while the tab is visible

/** Where a loaded model runs, as `ollama ps` says it: CPU, GPU or a split. */
function processor(running) {
  if (!running) return "";
  const size = running.size || 0;
  const vram = running.size_vram || 0;
  if (!size || vram <= 0) return "CPU";
  if (vram >= size) return "GPU";
  const gpu = Math.round((vram / size) * 100);
  return `${100 - gpu}% CPU / ${gpu}% GPU`;
}

function row(model, running, context, actions) {
  const details = model.details || {};
  const where = [
    context.info.backend === "embedded" ? "embedded engine" : context.info.backend,
    processor(running),
  ]
    .filter(Boolean)
    .join(" · ");
  return h(
    "tr",
    { "data-model": model.name },
    h("th", { scope: "row" }, model.name),
    h("td", null, details.family || "–"),
    h("td", null, details.parameter_size || "–"),
    h("td", null, details.quantization_level || "–"),
    h("td", { class: "num" }, bytes(model.size)),
    h("td", null, where),
    h(
      "td",
      null,
      running ? h("span", { class: "pill ok" }, "loaded") : h("span", { class: "muted" }, "no"),
    ),
    h(
      "td",
      { "data-expires": running?.expires_at || "" },
      running ? until(running.expires_at) : "–",
    ),
    context.can.manage
      ? h(
          "td",
          { class: "row-actions" },
          h(
            "button",
            {
              type: "button",
              class: "small",
              "data-action": "copy",
              on: { click: () => actions.copy(model.name) },
            },
            "Copy",
          ),
          h(
            "button",
            {
              type: "button",
              class: "small danger",
              "data-action": "delete",
              on: { click: () => actions.remove(model.name) },
            },
            "Delete",
          ),
        )
      : null,
  );
}

function table(context, tags, ps, actions) {
  const loaded = new Map((ps.models || []).map((m) => [m.name, m]));
  const listed = [...(tags.models || [])];
  for (const m of ps.models || []) {
    if (!listed.some((t) => t.name === m.name)) listed.push(m); // served but not in the store
  }
  if (!listed.length) return h("p", { class: "muted" }, "No models yet.");
  const head = [
    "Name",
    "Family",
    "Parameters",
    "Quantization",
    "Size",
    "Runs on",
    "Loaded",
    "Unloads",
  ];
  if (context.can.manage) head.push("Actions");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "models-table" },
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
        listed.map((m) => row(m, loaded.get(m.name), context, actions)),
      ),
    ),
  );
}

function pullPanel(context, onDone) {
  const name = h("input", {
    type: "text",
    id: "pull-name",
    placeholder: "e.g. qwen3:0.6b",
    required: true,
    "aria-label": "Model to pull",
  });
  const go = h("button", { type: "submit", class: "primary", id: "pull" }, "Pull");
  const cancel = h("button", { type: "button", id: "pull-cancel", hidden: true }, "Cancel");
  const status = h("p", { id: "pull-status", role: "status" });
  const layers = h("div", { class: "layers", id: "pull-layers" });
  let controller = null;

  function bar(event) {
    const id = `layer-${event.digest.replace(/[^\w]/g, "").slice(-12)}`;
    let item = layers.querySelector(`#${id}`);
    if (!item) {
      item = h(
        "div",
        { class: "layer", id },
        h("span", { class: "label" }),
        h("progress", { max: 1, value: 0 }),
        h("span", { class: "amount num" }),
      );
      layers.append(item);
    }
    const [label, progress, amount] = item.children;
    label.textContent = event.status;
    progress.max = event.total || 1;
    progress.value = event.completed || 0;
    amount.textContent = `${bytes(event.completed || 0)} / ${bytes(event.total)}`;
  }

  async function pull(model) {
    controller = new AbortController();
    go.disabled = true;
    cancel.hidden = false;
    layers.replaceChildren();
    status.className = "";
    status.textContent = `pulling ${model}…`;
    try {
      for await (const event of context.api.ndjson(
        "/api/pull",
        { model, stream: true },
        { signal: controller.signal },
      )) {
        if (event.digest && event.total) bar(event);
        status.textContent = event.status || status.textContent;
      }
      status.className = "ok";
      status.textContent = `${model}: success`;
      onDone();
    } catch (err) {
      status.className = "error";
      if (err.name === "AbortError") status.textContent = `${model}: cancelled`;
      else if (err instanceof ApiError && err.status === 401) context.expired();
      else status.textContent = `${model}: ${err.message}`;
    } finally {
      controller = null;
      go.disabled = false;
      cancel.hidden = true;
    }
  }

  cancel.addEventListener("click", () => controller?.abort());
  const form = h(
    "form",
    {
      class: "card pull",
      on: {
        submit: (e) => {
          e.preventDefault();
          if (name.value.trim() && !controller) pull(name.value.trim());
        },
      },
    },
    h("h2", null, "Pull a model"),
    h("div", { class: "inline" }, name, go, cancel),
    status,
    layers,
  );
  return { node: form, stop: () => controller?.abort() };
}

export function render(context, container) {
  const list = h(
    "div",
    { id: "models-list", class: "card" },
    h("p", { class: "muted" }, "Loading…"),
  );
  const notice = h("p", { role: "status", id: "models-notice" });
  let timer = null;
  let shown = "";

  // Rebuilt only when something changed (and focus put back), so a keyboard user's place in the
  // table survives the periodic refresh; the countdowns are updated in place.
  async function refresh() {
    try {
      const [tags, ps] = await Promise.all([
        context.api.get("/api/tags"),
        context.api.get("/api/ps").catch(() => ({ models: [] })),
      ]);
      const signature = JSON.stringify([tags.models, ps.models]);
      if (signature !== shown) {
        const focused = document.activeElement?.closest?.("[data-model] [data-action]");
        const where = focused && [
          focused.closest("[data-model]").dataset.model,
          focused.dataset.action,
        ];
        fill(list, table(context, tags, ps, actions));
        shown = signature;
        if (where) {
          [...list.querySelectorAll("[data-model]")]
            .find((r) => r.dataset.model === where[0])
            ?.querySelector(`[data-action="${where[1]}"]`)
            ?.focus();
        }
      }
      for (const cell of list.querySelectorAll("[data-expires]")) {
        if (cell.dataset.expires) cell.textContent = until(cell.dataset.expires);
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) context.expired();
      else fill(list, h("p", { class: "error", role: "alert" }, err.message));
    }
  }

  async function act(what, call) {
    try {
      await call();
      notice.className = "ok";
      notice.textContent = what;
      await refresh();
    } catch (err) {
      notice.className = "error";
      notice.textContent = err.message;
    }
  }

  const actions = {
    async copy(source) {
      const destination = await ask({
        title: `Copy ${source}`,
        confirm: "Copy",
        message: "The copy shares the original's files; it takes no extra space.",
        input: { label: "New name", value: `${source.split(":")[0]}-copy:latest` },
      });
      if (destination) {
        await act(`copied ${source} to ${destination}`, () =>
          context.api.json("POST", "/api/copy", { source, destination }),
        );
      }
    },
    async remove(model) {
      const sure = await ask({
        title: `Delete ${model}?`,
        confirm: "Delete",
        danger: true,
        message: "Its files are removed from the model store unless another name uses them.",
      });
      if (sure)
        await act(`deleted ${model}`, () => context.api.json("DELETE", "/api/delete", { model }));
    },
  };

  const pull = context.can.manage ? pullPanel(context, refresh) : null;
  fill(container, h("h1", { id: "page-title" }, "Models"), notice, list, pull ? pull.node : null);
  refresh();
  timer = setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);
  return () => {
    clearInterval(timer);
    if (pull) pull.stop();
  };
}
