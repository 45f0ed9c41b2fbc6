"""Signing in, where the key is kept, navigation, and the page's security, in a real browser."""

from __future__ import annotations

import re

from tests.console.conftest import KEY, sign_in
from tests.support.secrets import WRONG_KEY


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(page, fake_gateway):
    page.goto(fake_gateway + "/ui/")
    page.fill("#key", WRONG_KEY)
    page.click("button[type=submit]")
    page.wait_for_selector("#signin-error:text('That key was not accepted.')")
    assert page.locator("nav a").count() == 0
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#key", KEY)
    page.press("#key", "Enter")
    page.wait_for_selector("nav a")
    assert page.locator("nav a").all_inner_texts() == [
        "Playground",
        "Models",
        "Live status",
        "Keys",
        "Usage",
    ]
    assert page.locator("nav a[aria-current=page]").inner_text() == "Playground"
    assert page.locator("#role").inner_text() == "admin"  # a key from the settings: admin


def test_the_key_lives_in_session_storage_only(page, fake_gateway):
    seen: list[tuple[str, dict]] = []
    page.on("request", lambda r: seen.append((r.url, r.headers)))
    sign_in(page, fake_gateway)
    page.wait_for_selector("#model option", state="attached")
    assert page.evaluate("Object.values(sessionStorage)") == [KEY]
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    api_calls = [(url, headers) for url, headers in seen if "/ui/" not in url]
    # first, without a key: is this a gateway without keys? (it is not: 401, so sign-in shows)
    assert api_calls[0] == (fake_gateway + "/info", api_calls[0][1])
    assert "authorization" not in api_calls[0][1]
    assert len(api_calls) > 3
    for url, headers in seen:
        assert KEY not in url
        if "/ui/" in url:  # the console's own files are fetched without the key
            assert "authorization" not in headers
    for _url, headers in api_calls[1:]:
        assert headers["authorization"] == f"Bearer {KEY}"
        assert "x-api-key" not in headers
    assert KEY not in page.url
    assert KEY[:6] not in page.locator("body").inner_text()  # not even a part of it is shown
    page.reload()  # still signed in after a reload, in the same tab
    page.wait_for_selector("nav a")
    page.click("#signout")
    page.wait_for_selector("#key")
    assert page.evaluate("sessionStorage.length") == 0


def test_another_tab_has_to_sign_in(new_tab, fake_gateway):
    first = new_tab()
    sign_in(first, fake_gateway)
    second = new_tab()
    second.goto(fake_gateway + "/ui/")
    second.wait_for_selector("#key")


def test_a_key_that_stops_working_leads_back_to_sign_in(page, fake_gateway):
    sign_in(page, fake_gateway)
    page.evaluate(f"sessionStorage.setItem('ollama-gateway.key', {WRONG_KEY!r})")
    page.reload()
    page.wait_for_selector("#signin-error:text('The key is no longer accepted. Sign in again.')")
    assert page.evaluate("sessionStorage.length") == 0


def test_no_sign_in_without_keys_on_loopback(page, open_gateway):
    page.goto(open_gateway + "/ui/")
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("#key").count() == 0
    assert page.locator(".who").inner_text() == "no key needed"
    assert page.locator("#banner").is_hidden()  # the browser is on 127.0.0.1


def test_pages_are_reached_by_keyboard(page, fake_gateway):
    page.goto(fake_gateway + "/ui/")
    page.wait_for_selector("#key:focus")  # the key field has the focus from the start
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")
    page.wait_for_selector("#prompt:focus")
    page.focus("nav a[href='#/models']")
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:text('Models')")
    assert page.url.endswith("#/models")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Models"


def test_an_unknown_page_shows_the_first_one(page, fake_gateway):
    sign_in(page, fake_gateway)
    page.goto(fake_gateway + "/ui/#/nothing-here")
    page.wait_for_selector("#prompt")


def test_the_menu_folds_on_a_phone(new_tab, fake_gateway, shots):
    page = new_tab(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page, fake_gateway)
    assert page.locator("nav").is_hidden()
    page.click(".menu-toggle")
    assert page.locator("nav").is_visible()
    assert page.locator(".menu-toggle").get_attribute("aria-expanded") == "true"
    page.click("nav a[href='#/status']")
    page.wait_for_selector("#tile-health")
    assert page.locator("nav").is_hidden()
    page.screenshot(path=shots / "status-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"


def test_dark_and_light_follow_the_system(new_tab, fake_gateway):
    colours = {}
    for scheme in ("light", "dark"):
        page = new_tab(color_scheme=scheme)
        sign_in(page, fake_gateway)
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
    luminance = {s: sum(int(c) for c in re.findall(r"\d+", v)[:3]) for s, v in colours.items()}
    assert luminance["light"] > 600 > 150 > luminance["dark"]


def test_the_page_cannot_be_framed(page, fake_gateway):
    page.goto(fake_gateway + "/health")  # any page of the same origin
    page.evaluate(
        """(url) => new Promise((resolve) => {
            const frame = document.createElement("iframe");
            frame.src = url;
            frame.onload = resolve;
            document.body.append(frame);
            setTimeout(resolve, 3000);
        })""",
        fake_gateway + "/ui/",
    )
    assert len(page.frames) == 2
    assert page.frames[1].url == "chrome-error://chromewebdata/"  # refused, not the console
