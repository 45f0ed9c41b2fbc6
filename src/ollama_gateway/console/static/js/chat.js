// The playground's conversation and settings (kept while the tab is open, so leaving the page
// and coming back keeps them), and the /api/chat request they make.

import { download } from "./dom.js";

export const chat = {
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
export async function modelNames(context) {
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
export function chatOptions() {
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

/** Download the conversation as JSON. */
export function exportChat() {
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
