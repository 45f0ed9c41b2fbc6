// The console's shell: sign-in, navigation that follows the key's role, and the page router.
//
// Pages are addressed by the URL's fragment (#/playground), so the server has one file to serve
// and nothing about a page ever travels to it. Each page module exports
// render(context, container) and may return a function that stops what it started (streams,
// polling) when the user leaves it.

import { ApiError } from "./api.js";
import { fill, h } from "./dom.js";
import { connect, forget, keep, storedKey } from "./session.js";
import * as keysPage from "./pages/keys.js";
import * as modelsPage from "./pages/models.js";
import * as playgroundPage from "./pages/playground.js";
import * as statusPage from "./pages/status.js";
import * as usagePage from "./pages/usage.js";

const PAGES = [
  { id: "playground", title: "Playground", module: playgroundPage, when: (can) => can.chat },
  { id: "models", title: "Models", module: modelsPage, when: (can) => can.models },
  { id: "status", title: "Live status", module: statusPage, when: (can) => can.status },
  { id: "keys", title: "Keys", module: keysPage, when: (can) => can.keys },
  { id: "usage", title: "Usage", module: usagePage, when: (can) => can.usage },
];

const main = document.getElementById("page");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const banner = document.getElementById("banner");
const menu = document.querySelector(".menu-toggle");
let session = null;
let leave = null;

function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || /^127\./.test(hostname);
}

function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

function signInPage(message) {
  document.title = "Sign in · ollama-gateway";
  nav.replaceChildren();
  who.replaceChildren();
  menu.hidden = true;
  const input = h("input", {
    type: "password",
    id: "key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "ogw_…",
    "aria-describedby": "signin-error signin-hint",
  });
  const error = h("p", { id: "signin-error", class: "error", role: "alert" }, message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  // No name attribute and no action: even without this script the key could not be submitted
  // into a URL. The submit handler below is the only way it leaves the field.
  const form = h(
    "form",
    { class: "card signin", method: "post", novalidate: true },
    h("h1", null, "Sign in"),
    h("label", { for: "key" }, "API key"),
    input,
    h(
      "p",
      { id: "signin-hint", class: "muted" },
      "The key stays in this tab (session storage) and is sent only in the Authorization header.",
    ),
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter an API key.";
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = "";
    try {
      const found = await connect(key);
      keep(key);
      input.value = "";
      start(found);
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401
          ? "That key was not accepted."
          : `Cannot sign in: ${err.message}`;
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}

function renderNav(current) {
  fill(
    nav,
    h(
      "ul",
      null,
      PAGES.filter((p) => p.when(session.can)).map((page) =>
        h(
          "li",
          null,
          h(
            "a",
            {
              href: `#/${page.id}`,
              "aria-current": page.id === current ? "page" : null,
            },
            page.title,
          ),
        ),
      ),
    ),
  );
  menu.hidden = false;
}

function renderWho() {
  const parts = [];
  if (session.open) {
    parts.push(h("span", { class: "pill" }, "no key needed"));
  } else {
    const label = session.me?.name || "signed in"; // never any part of the key itself
    parts.push(
      h("span", { class: "muted" }, label),
      " ",
      h("span", { class: "pill", id: "role" }, session.role),
    );
    parts.push(
      h(
        "button",
        { type: "button", class: "small", id: "signout", on: { click: signOut } },
        "Sign out",
      ),
    );
  }
  fill(who, parts);
}

function signOut() {
  if (leave) leave();
  forget();
  window.location.hash = "";
  window.location.reload();
}

function route() {
  return (window.location.hash.match(/^#\/([\w-]+)/) || [])[1] || "";
}

function show() {
  if (!session) return;
  if (leave) {
    leave();
    leave = null;
  }
  const allowed = PAGES.filter((p) => p.when(session.can));
  const page = allowed.find((p) => p.id === route()) || allowed[0];
  renderNav(page?.id);
  if (!page) {
    fill(
      main,
      h(
        "div",
        { class: "card" },
        h("h1", null, "Nothing to show"),
        h("p", null, "This key may not use any of the console's pages."),
      ),
    );
    return;
  }
  document.title = `${page.title} · ollama-gateway`;
  const container = h("section", {
    class: `page page-${page.id}`,
    "aria-labelledby": "page-title",
  });
  fill(main, container);
  const context = { ...session, expired };
  leave = page.module.render(context, container) || null;
  document.body.classList.remove("menu-open");
  menu.setAttribute("aria-expanded", "false");
}

/** A page saw a 401: the key was revoked or expired while signed in. */
function expired() {
  if (leave) leave();
  leave = null;
  session = null;
  forget();
  signInPage("The key is no longer accepted (revoked, disabled or expired). Sign in again.");
}

function start(found) {
  session = found;
  renderWho();
  if (found.open && !isLoopback(window.location.hostname)) {
    showBanner("This gateway has no API keys: anyone who can reach it can use it.");
  } else {
    showBanner("");
  }
  show();
}

async function boot() {
  // the skip link focuses the page without touching the URL's fragment (the router's)
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  menu.addEventListener("click", () => {
    const open = document.body.classList.toggle("menu-open");
    menu.setAttribute("aria-expanded", String(open));
  });
  window.addEventListener("hashchange", show);
  const key = storedKey();
  try {
    start(await connect(key));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      if (key) forget();
      signInPage(key ? "The key is no longer accepted. Sign in again." : "");
      return;
    }
    fill(
      main,
      h(
        "div",
        { class: "card" },
        h("h1", null, "Cannot reach the gateway"),
        h("p", { class: "error", role: "alert" }, err.message),
        h("button", { type: "button", on: { click: () => window.location.reload() } }, "Retry"),
      ),
    );
  }
}

boot();
