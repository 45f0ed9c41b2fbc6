"""The console's Markdown renderer (static/js/markdown.js), run in the browser it is written for."""

from __future__ import annotations

import pytest

RENDER = """async (source) => {
  const { renderMarkdown } = await import("./js/markdown.js");
  const box = document.createElement("div");
  box.append(renderMarkdown(source));
  return box.innerHTML;
}"""
TAGS = """async (source) => {
  const { renderMarkdown } = await import("./js/markdown.js");
  const box = document.createElement("div");
  box.append(renderMarkdown(source));
  return [...box.querySelectorAll("*")].map((e) => [e.localName, e.getAttributeNames()]);
}"""

LINK = 'target="_blank" rel="noopener noreferrer nofollow"'

CASES = [
    ("plain words", "<p>plain words</p>"),
    ("one\ntwo\n\nthree", "<p>one<br>two</p><p>three</p>"),
    ("# Title\n## Sub ##", "<h1>Title</h1><h2>Sub</h2>"),
    (
        "**b** *i* _e_ ~~s~~ `c <d>`",
        "<p><strong>b</strong> <em>i</em> <em>e</em> <del>s</del> <code>c &lt;d&gt;</code></p>",
    ),
    ("snake_case_name and my__private__var", "<p>snake_case_name and my__private__var</p>"),
    ("__init__.py", "<p><strong>init</strong>.py</p>"),  # as CommonMark has it
    ("2 * 3 * 4", "<p>2 * 3 * 4</p>"),
    (r"\*not em\*", "<p>*not em*</p>"),
    ("- a\n- b\n  - c\n- d", "<ul><li>a</li><li>b<ul><li>c</li></ul></li><li>d</li></ul>"),
    ("3. x\n4. y", '<ol start="3"><li>x</li><li>y</li></ol>'),
    ("1. x\n\n2. y", "<ol><li>x</li><li>y</li></ol>"),
    (
        "```html\n<b>hi</b>\n```",
        '<pre><code class="language-html" data-language="html">&lt;b&gt;hi&lt;/b&gt;</code></pre>',
    ),
    (
        "```python\nprint(1)",
        '<pre><code class="language-python" data-language="python">print(1)</code></pre>',
    ),  # still streaming: the open fence is code so far
    ("    indented\n    code", "<pre><code>indented\ncode</code></pre>"),
    ("> quoted\n> **text**", "<blockquote><p>quoted<br><strong>text</strong></p></blockquote>"),
    ("a\n\n---\n\nb", "<p>a</p><hr><p>b</p>"),
    (
        "| a | b |\n|:--|--:|\n| 1 | 2 |",
        '<div class="table-wrap"><table><thead><tr><th class="align-left">a</th>'
        '<th class="align-right">b</th></tr></thead><tbody><tr><td class="align-left">1</td>'
        '<td class="align-right">2</td></tr></tbody></table></div>',
    ),
    (
        "[site](https://example.com/a?b=1)",
        f'<p><a href="https://example.com/a?b=1" {LINK}>site</a></p>',
    ),
    (
        "see https://example.com/x.",
        f'<p>see <a href="https://example.com/x" {LINK}>https://example.com/x</a>.</p>',
    ),
    ("[x](javascript:alert(1))", "<p><span>x</span>)</p>"),
    ("[x](data:text/html,hi)", "<p><span>x</span></p>"),
    ("[x](//evil.example)", "<p><span>x</span></p>"),
    (
        "![img](https://example.com/i.png)",
        f'<p>!<a href="https://example.com/i.png" {LINK}>img</a></p>',
    ),
    (
        '<img src=x onerror="alert(1)"><script>alert(2)</script>',
        '<p>&lt;img src=x onerror="alert(1)"&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>',
    ),
    ("<b>bold?</b> &amp; &lt;", "<p>&lt;b&gt;bold?&lt;/b&gt; &amp;amp; &amp;lt;</p>"),
]


@pytest.fixture
def render(page, open_gateway):
    page.goto(open_gateway + "/ui/")
    page.wait_for_selector("nav a", state="attached")
    return lambda source: page.evaluate(RENDER, source)


def test_markdown_renders_as_expected(render):
    for source, expected in CASES:
        assert render(source) == expected, source


def test_no_source_makes_an_element_it_did_not_choose(render, page):
    hostile = "\n".join(
        [
            "<iframe src=x></iframe>",
            "[a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c]( javascript:alert(1))",
            "[d](vbscript:x) [e](file:///etc/passwd) <svg onload=alert(1)>",
            "```\n</code></pre><script>alert(1)</script>\n```",
            "| <img src=x onerror=alert(1)> | b |\n|---|---|\n| <script>x</script> | y |",
            "> <a href=javascript:alert(1)>q</a>",
        ]
    )
    elements = page.evaluate(TAGS, hostile)
    assert {tag for tag, _ in elements} == {
        "p",
        "br",
        "span",
        "pre",
        "code",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "blockquote",
    }
    assert {name for _, names in elements for name in names} == {"class"}  # table-wrap only
    assert "<iframe src=x>" in page.evaluate(
        "async (s) => (await import('./js/markdown.js')).renderMarkdown(s).textContent", hostile
    )


def test_a_huge_hostile_reply_still_renders(render):
    source = ("*a _b `c [d **e ~~f " * 5000) + "\n" + ("> " * 200) + "deep" + "\n- " * 500
    html = render(source)
    assert html.startswith("<p>*a _b <code>c [d **e ~~f *a _b </code>c [d **e")
    assert "deep" in html
