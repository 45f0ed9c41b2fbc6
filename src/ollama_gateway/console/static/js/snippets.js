// The request the playground would send, as curl, Python `ollama` and Python `openai` code.
// The key is never written out: the code reads it from the OLLAMA_GATEWAY_KEY variable.

export const KEY_VARIABLE = "OLLAMA_GATEWAY_KEY";

function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** A JSON value as a Python literal (JSON's string escapes are valid in Python strings). */
export function python(value, indent = 0) {
  const pad = " ".repeat(indent);
  const inner = " ".repeat(indent + 4);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + python(v, indent + 4)).join(",\n")},\n${pad}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries
    .map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, indent + 4)}`)
    .join(",\n")},\n${pad}}`;
}

function keywords(pairs, indent) {
  const pad = " ".repeat(indent);
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${pad}${k}=${python(v, indent)},`)
    .join("\n");
}

export function curl(origin, body, withKey) {
  const lines = [`curl -N ${origin}/api/chat`];
  if (withKey) lines.push(`  -H "Authorization: Bearer $${KEY_VARIABLE}"`);
  lines.push("  -H 'Content-Type: application/json'");
  lines.push(`  -d ${shellQuote(JSON.stringify(body))}`);
  return lines.join(" \\\n");
}

export function ollamaPython(origin, body, withKey) {
  const headers = withKey
    ? `,\n    headers={"Authorization": f"Bearer {os.environ['${KEY_VARIABLE}']}"},\n`
    : "\n";
  return [
    withKey ? "import os\n" : "",
    "from ollama import Client\n\n",
    `client = Client(\n    host=${JSON.stringify(origin)}${headers})\n`,
    "stream = client.chat(\n",
    keywords(
      [
        ["model", body.model],
        ["messages", body.messages],
        ["options", body.options],
        ["format", body.format],
        ["think", body.think],
        ["stream", true],
      ],
      4,
    ),
    "\n)\nfor chunk in stream:\n",
    '    print(chunk.message.content, end="", flush=True)\nprint()\n',
  ].join("");
}

function responseFormat(format) {
  if (format === undefined) return undefined;
  if (format === "json") return { type: "json_object" };
  return { type: "json_schema", json_schema: { name: "reply", schema: format } };
}

export function openaiPython(origin, body, withKey) {
  const options = body.options || {};
  let effort;
  if (body.think !== undefined) effort = body.think ? "medium" : "none";
  // the openai client insists on a key; a gateway without keys ignores whatever it sends
  const key = withKey ? `os.environ["${KEY_VARIABLE}"]` : '"none"';
  return [
    withKey ? "import os\n" : "",
    "from openai import OpenAI\n\n",
    `client = OpenAI(base_url=${JSON.stringify(`${origin}/v1`)}, api_key=${key})\n`,
    "stream = client.chat.completions.create(\n",
    keywords(
      [
        ["model", body.model],
        ["messages", body.messages],
        ["temperature", options.temperature],
        ["max_tokens", options.num_predict],
        ["seed", options.seed],
        ["response_format", responseFormat(body.format)],
        ["reasoning_effort", effort],
        ["stream", true],
      ],
      4,
    ),
    "\n)\nfor chunk in stream:\n",
    "    if chunk.choices:\n",
    '        print(chunk.choices[0].delta.content or "", end="", flush=True)\nprint()\n',
  ].join("");
}
