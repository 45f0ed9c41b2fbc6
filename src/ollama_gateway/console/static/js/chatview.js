// One message of the playground's transcript: the user's text as plain text, the model's reply as
// safe Markdown with its reasoning folded apart, and the reply's numbers.

import { fill, h } from "./dom.js";
import { count, rate, seconds } from "./format.js";
import { renderMarkdown } from "./markdown.js";

const RENDER_EVERY_MS = 80; // a long reply is re-rendered at most this often while it streams

export function messageView(message) {
  const article = h("article", { class: `msg msg-${message.role}`, "data-role": message.role });
  const view = { article, message, timer: null };
  if (message.role === "user") {
    article.append(h("header", null, "You"), h("div", { class: "content plain" }, message.content));
    return view;
  }
  view.reasoning = h("div", { class: "thinking-text plain" });
  view.thinking = h(
    "details",
    { class: "thinking", hidden: true },
    h("summary", null, "Reasoning"),
    view.reasoning,
  );
  view.content = h("div", { class: "content markdown" });
  view.stats = h("footer", { class: "stats" });
  article.append(
    h("header", null, message.model || "assistant"),
    view.thinking,
    view.content,
    view.stats,
  );
  update(view, true);
  return view;
}

/** Show the message's current text (throttled while it streams; `now` forces it). */
export function update(view, now = false) {
  if (!now) {
    if (view.timer === null) {
      view.timer = setTimeout(() => {
        view.timer = null;
        update(view, true);
      }, RENDER_EVERY_MS);
    }
    return;
  }
  const { message } = view;
  view.thinking.hidden = !message.thinking;
  view.reasoning.textContent = message.thinking || "";
  fill(view.content, renderMarkdown(message.content));
  view.article.classList.toggle("streaming", Boolean(message.streaming));
  fill(view.stats, statsLine(message));
}

function statsLine(message) {
  const parts = [];
  const stats = message.stats || {};
  if (message.streaming) parts.push(h("span", { class: "live" }, "generating…"));
  if (message.stopped) parts.push(h("span", { class: "warn" }, "stopped"));
  if (message.error) parts.push(h("span", { class: "error", role: "alert" }, message.error));
  if (stats.prompt_tokens !== undefined) {
    parts.push(h("span", { "data-stat": "prompt" }, `${count(stats.prompt_tokens)} prompt tokens`));
  }
  if (stats.generated_tokens !== undefined) {
    parts.push(
      h("span", { "data-stat": "generated" }, `${count(stats.generated_tokens)} generated tokens`),
    );
  }
  if (stats.first_token !== undefined) {
    parts.push(h("span", { "data-stat": "ttft" }, `first token ${seconds(stats.first_token)}`));
  }
  if (stats.tokens_per_second !== undefined) {
    parts.push(h("span", { "data-stat": "speed" }, rate(stats.tokens_per_second)));
  }
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

/**
 * The reply's numbers: token counts and decode speed from the final chunk when the server sent
 * one, time to first token as this browser saw it (request sent -> first text shown).
 */
export function replyStats(timing, final) {
  const stats = {};
  if (timing.first !== null) stats.first_token = (timing.first - timing.sent) / 1000;
  if (final) {
    stats.prompt_tokens = final.prompt_eval_count ?? 0;
    stats.generated_tokens = final.eval_count ?? timing.chunks;
    if (final.eval_duration > 0) {
      stats.tokens_per_second = stats.generated_tokens / (final.eval_duration / 1e9);
    }
  } else if (timing.chunks) {
    stats.generated_tokens = timing.chunks; // stopped early: what arrived (one token a chunk)
  }
  if (stats.tokens_per_second === undefined && timing.first !== null && timing.chunks > 1) {
    stats.tokens_per_second = (timing.chunks - 1) / ((timing.last - timing.first) / 1000);
  }
  return stats;
}
