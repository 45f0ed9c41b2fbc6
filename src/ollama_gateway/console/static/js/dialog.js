// Modal questions: a confirmation, or one line of input. Built on <dialog>, so focus is trapped
// inside it, Escape cancels and focus returns to where it was.

import { h } from "./dom.js";

/**
 * Ask a question; resolves to false when cancelled, otherwise true (or the text typed, when
 * `input` is given: {label, value}).
 */
export function ask({ title, message, confirm = "OK", danger = false, input = null }) {
  return new Promise((resolve) => {
    const field = input
      ? h("input", {
          type: "text",
          id: "dialog-input",
          value: input.value || "",
          required: true,
          "aria-label": input.label,
        })
      : null;
    const error = h("p", { class: "error", role: "alert" });
    const ok = h(
      "button",
      { type: "submit", class: danger ? "danger" : "primary", id: "dialog-confirm" },
      confirm,
    );
    const cancel = h("button", { type: "button", id: "dialog-cancel" }, "Cancel");
    const form = h(
      "form",
      { method: "post", novalidate: true },
      h("h2", null, title),
      message ? h("p", null, message) : null,
      input
        ? h("label", { class: "field" }, h("span", { class: "label" }, input.label), field)
        : null,
      error,
      h("div", { class: "actions" }, cancel, ok),
    );
    const dialog = h("dialog", { class: "card", "aria-label": title }, form);
    let answer = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (field && !field.value.trim()) {
        error.textContent = `${input.label} is required.`;
        field.focus();
        return;
      }
      answer = field ? field.value.trim() : true;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (field || cancel).focus();
  });
}

/** Tell something that needs acknowledging (an error, a key shown once). */
export function tell(title, ...content) {
  return new Promise((resolve) => {
    const close = h("button", { type: "button", class: "primary", id: "dialog-close" }, "Done");
    const dialog = h(
      "dialog",
      { class: "card", "aria-label": title },
      h("h2", null, title),
      ...content,
      h("div", { class: "actions" }, close),
    );
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    close.focus();
  });
}

/**
 * A modal form: `body` holds the fields, `read()` returns the value to resolve with (or throws
 * an Error whose message is shown). Resolves to null when cancelled.
 */
export function formDialog({ title, body, confirm = "Save", read }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "error", role: "alert" });
    const ok = h("button", { type: "submit", class: "primary", id: "dialog-confirm" }, confirm);
    const cancel = h("button", { type: "button", id: "dialog-cancel" }, "Cancel");
    const form = h(
      "form",
      { method: "post", novalidate: true },
      h("h2", null, title),
      body,
      error,
      h("div", { class: "actions" }, cancel, ok),
    );
    const dialog = h("dialog", { class: "card wide", "aria-label": title }, form);
    let answer = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try {
        answer = read();
      } catch (err) {
        error.textContent = err.message;
        return;
      }
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    form.querySelector("input, select, textarea")?.focus();
  });
}
