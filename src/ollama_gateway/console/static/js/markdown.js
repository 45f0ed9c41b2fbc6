// A small, safe Markdown renderer for model output.
//
// It builds DOM nodes directly: every piece of the source ends up in a text node or in the
// attribute of an element this module chose (a link's href, only for http, https and mailto
// URLs). There is no HTML pass-through: "<img src=x onerror=...>" in a reply shows as those
// characters. Supported: paragraphs with line breaks, headings, fenced and indented code, block
// quotes, ordered and unordered (nested) lists, tables, rules, and inline code, strong, emphasis,
// strike-through, links and bare URLs. Unclosed constructs (a reply still streaming) render as
// far as they go.

import { h } from "./dom.js";

const SAFE_URL = /^(https?:\/\/|mailto:)/i;
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const BULLET = /^( *)([-*+])\s+(.*)$/;
const ORDERED = /^( *)(\d{1,9})[.)]\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const MAX_DEPTH = 8; // nesting (quotes in lists in quotes...) deeper than this is plain text

/** The rendered Markdown of `source` as a DocumentFragment. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  fragment.append(
    ...blocks(
      String(source ?? "")
        .replace(/\r\n?/g, "\n")
        .split("\n"),
      0,
    ),
  );
  return fragment;
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const consumed = depth < MAX_DEPTH ? block(lines, i, depth, out) : 0;
    if (consumed) {
      i += consumed;
      continue;
    }
    const start = i;
    while (i < lines.length && lines[i].trim() && (i === start || !startsBlock(lines, i))) i += 1;
    out.push(
      h(
        "p",
        null,
        inline(
          lines
            .slice(start, i)
            .map((l) => l.trim())
            .join("\n"),
        ),
      ),
    );
  }
  return out;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    BULLET.test(line) ||
    ORDERED.test(line) ||
    isTable(lines, i)
  );
}

/** Render the block starting at lines[i] into `out`; the number of lines used (0: none). */
function block(lines, i, depth, out) {
  const line = lines[i];
  let match = FENCE.exec(line);
  if (match) return fenced(lines, i, match, out);
  match = HEADING.exec(line);
  if (match) {
    out.push(h(`h${match[1].length}`, null, inline(match[2])));
    return 1;
  }
  if (RULE.test(line)) {
    out.push(h("hr"));
    return 1;
  }
  if (/^ {4,}\S/.test(line)) return indentedCode(lines, i, out);
  if (QUOTE.test(line)) {
    let end = i;
    while (end < lines.length && QUOTE.test(lines[end])) end += 1;
    const inner = lines.slice(i, end).map((l) => QUOTE.exec(l)[1]);
    out.push(h("blockquote", null, blocks(inner, depth + 1)));
    return end - i;
  }
  if (BULLET.test(line) || ORDERED.test(line)) return list(lines, i, depth, out);
  if (isTable(lines, i)) return table(lines, i, out);
  return 0;
}

function fenced(lines, i, match, out) {
  const fence = match[1];
  let end = i + 1;
  while (end < lines.length && !lines[end].trim().startsWith(fence)) end += 1;
  const code = lines.slice(i + 1, end).join("\n");
  const language = match[2].replace(/[^\w+#.-]/g, "").slice(0, 32);
  out.push(codeBlock(code, language));
  return Math.min(end + 1, lines.length) - i;
}

function indentedCode(lines, i, out) {
  let end = i;
  while (end < lines.length && (/^ {4,}/.test(lines[end]) || !lines[end].trim())) end += 1;
  while (end > i && !lines[end - 1].trim()) end -= 1;
  out.push(
    codeBlock(
      lines
        .slice(i, end)
        .map((l) => l.slice(4))
        .join("\n"),
      "",
    ),
  );
  return end - i;
}

function codeBlock(code, language) {
  const attrs = language ? { class: `language-${language}`, "data-language": language } : null;
  return h("pre", null, h("code", attrs, code));
}

function list(lines, i, depth, out) {
  const first = BULLET.exec(lines[i]) || ORDERED.exec(lines[i]);
  const ordered = !BULLET.test(lines[i]);
  const indent = first[1].length;
  const items = [];
  let end = i;
  while (end < lines.length) {
    const match = (ordered ? ORDERED : BULLET).exec(lines[end]);
    if (!match || match[1].length !== indent) break;
    const body = [match[3]];
    end += 1;
    // the item's continuation: deeper-indented lines (a nested list) and lazy paragraph lines
    while (end < lines.length && lines[end].trim()) {
      const deeper = lines[end].length - lines[end].trimStart().length > indent;
      const sibling = BULLET.exec(lines[end]) || ORDERED.exec(lines[end]);
      if (sibling && !deeper) break;
      if (!deeper && startsBlock(lines, end)) break;
      body.push(
        deeper ? lines[end].slice(Math.min(indent + 2, lines[end].search(/\S/))) : lines[end],
      );
      end += 1;
    }
    items.push(h("li", null, itemContent(body, depth)));
    if (end < lines.length && !lines[end].trim()) {
      const next = lines.slice(end).findIndex((l) => l.trim());
      const after = next >= 0 ? end + next : -1;
      const again = after >= 0 && (ordered ? ORDERED : BULLET).exec(lines[after]);
      if (!again || again[1].length !== indent) break;
      end = after;
    }
  }
  const attrs = ordered && Number(first[2]) !== 1 ? { start: Number(first[2]) } : null;
  out.push(h(ordered ? "ol" : "ul", attrs, items));
  return end - i;
}

function itemContent(body, depth) {
  const nested = body.findIndex(
    (l, n) => n > 0 && (BULLET.test(l) || ORDERED.test(l) || FENCE.test(l)),
  );
  if (nested < 0) return inline(body.map((l) => l.trim()).join("\n"));
  return [
    inline(
      body
        .slice(0, nested)
        .map((l) => l.trim())
        .join("\n"),
    ),
    blocks(body.slice(nested), depth + 1),
  ];
}

function isTable(lines, i) {
  return (
    lines[i].includes("|") &&
    i + 1 < lines.length &&
    TABLE_RULE.test(lines[i + 1]) &&
    lines[i + 1].includes("-")
  );
}

function cells(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function table(lines, i, out) {
  const head = cells(lines[i]);
  const aligns = cells(lines[i + 1]).map((c) => {
    if (c.startsWith(":") && c.endsWith(":")) return "center";
    if (c.endsWith(":")) return "right";
    return c.startsWith(":") ? "left" : null;
  });
  let end = i + 2;
  const rows = [];
  while (end < lines.length && lines[end].includes("|") && lines[end].trim()) {
    rows.push(cells(lines[end]));
    end += 1;
  }
  const cell = (tag, text, n) =>
    h(tag, aligns[n] ? { class: `align-${aligns[n]}` } : null, inline(text));
  out.push(
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        null,
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            head.map((c, n) => cell("th", c, n)),
          ),
        ),
        h(
          "tbody",
          null,
          rows.map((r) =>
            h(
              "tr",
              null,
              head.map((_, n) => cell("td", r[n] ?? "", n)),
            ),
          ),
        ),
      ),
    ),
  );
  return end - i;
}

// --- inline ---------------------------------------------------------------------------------

// Each span is bounded (SPAN characters), so a reply full of unmatched markers stays linear.
const SPAN = "{0,2000}?";
const INLINE = [
  {
    re: /^(`+)(?!`)([^`][\s\S]{0,2000}?)\1(?!`)/,
    make: (m) => h("code", null, m[2].replace(/^ (.*) $/s, "$1")),
  },
  {
    re: /^\[([^\]\n]{1,500})\]\(\s*<?([^)\s>]{1,2000})>?(?:\s+"[^"\n]{0,200}")?\s*\)/,
    make: (m) => link(m[2], inline(m[1])),
  },
  {
    re: new RegExp(`^\\*\\*(?=\\S)([\\s\\S]${SPAN}\\S)\\*\\*`),
    make: (m) => h("strong", null, inline(m[1])),
  },
  { re: new RegExp(`^~~(?=\\S)([\\s\\S]${SPAN}\\S)~~`), make: (m) => h("del", null, inline(m[1])) },
  {
    re: new RegExp(`^\\*(?=[^\\s*])([\\s\\S]${SPAN}[^\\s*])\\*(?!\\*)`),
    make: (m) => h("em", null, inline(m[1])),
  },
  // __strong__, _emphasis_ and bare URLs only start and end at word boundaries:
  // snake_case_names, __dunder__.attributes and a/http://x stay text
  {
    re: new RegExp(`^__(?=[^\\s_])([\\s\\S]${SPAN}[^\\s_])__(?![\\p{L}\\p{N}_])`, "u"),
    make: (m) => h("strong", null, inline(m[1])),
    wordStart: true,
  },
  {
    re: new RegExp(`^_(?=[^\\s_])([\\s\\S]${SPAN}[^\\s_])_(?![\\p{L}\\p{N}_])`, "u"),
    make: (m) => h("em", null, inline(m[1])),
    wordStart: true,
  },
  {
    re: /^(?:https?:\/\/|mailto:)[^\s<>"'`]{0,2000}[^\s<>"'`.,;:!?)\]]/i,
    make: (m) => link(m[0], m[0]),
    wordStart: true,
  },
];
const SPECIAL = /[`[*_~\\\n]/;
const URL_START = /^(?:https?:\/\/|mailto:)/i;
const MAX_INLINE_DEPTH = 16;
let inlineDepth = 0;

function link(url, content) {
  const href = url.trim();
  if (!SAFE_URL.test(href)) return h("span", null, content);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, content);
}

/** Inline Markdown of `text` as a list of nodes and strings (strings become text nodes). */
export function inline(text) {
  if (inlineDepth >= MAX_INLINE_DEPTH) return [text];
  inlineDepth += 1;
  try {
    return spans(text);
  } finally {
    inlineDepth -= 1;
  }
}

function spans(text) {
  const out = [];
  let plain = "";
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    if (!SPECIAL.test(char) && !("hHmM".includes(char) && URL_START.test(text.slice(i, i + 8)))) {
      plain += char;
      i += 1;
      continue;
    }
    if (char === "\\" && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (char === "\n") {
      out.push(plain, h("br"));
      plain = "";
      i += 1;
      continue;
    }
    const found = match(text, i);
    if (!found) {
      plain += char;
      i += 1;
      continue;
    }
    out.push(plain, found.node);
    plain = "";
    i += found.length;
  }
  out.push(plain);
  return out.filter((part) => part !== "");
}

function match(text, i) {
  const rest = text.slice(i, i + 4200);
  const afterWord = i > 0 && /[\p{L}\p{N}/_]/u.test(text[i - 1]);
  for (const { re, make, wordStart } of INLINE) {
    if (wordStart && afterWord) continue;
    const found = re.exec(rest);
    if (found) return { node: make(found), length: found[0].length };
  }
  return null;
}
