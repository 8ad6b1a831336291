"""HTML from email: made safe to show (`sanitize_html`) and read as text (`html_to_text`).

Both are pure and lean on nh3 (ammonia's HTML5 parser) rather than on `html.parser`:
a browser-grade tree builder sees the same document a browser would, and the stdlib
parser slows down quadratically on hostile markup such as thousands of unclosed comments.

The sanitizing policy, for HTML that an agent's browser will render:

- Elements: nh3's default allow-list plus `font`, `center` and table sections. Anything
  else is dropped and its text kept, except `script`, `style`, `title`, `head`, `noscript`,
  `template`, `iframe`, `noembed`, `noframes`, `object`, `embed` and `applet`, whose
  content goes too. So no `<base>`, `<meta>`, `<link>`, `<form>` or inputs survive.
- Attributes: an explicit list per element; no event handlers, no `id`, no `class`.
- URLs: `http`, `https`, `mailto`, `tel` and `cid` (inline images, served by the app).
  `javascript:`, `data:`, `vbscript:` and relative URLs (which would point into the app)
  are removed.
- Links get `rel="noopener noreferrer nofollow"` and `target="_blank"`.
- `style` attributes keep only the layout and typography properties in
  `SAFE_CSS_PROPERTIES`, and a style that mentions `url(`, `image(`, `image-set(`,
  `@import`, `expression(`, `behavior`, `-moz-binding`, `javascript:`, a CSS comment or a
  backslash escape is dropped whole: nothing left in CSS can load remote content or run
  script. Positioning (`position`, `z-index`, `top`, ...) is not allowed, so a message
  cannot draw over the app.
- Remote images (`<img src="https://...">`) are kept; whether to load them is the
  viewer's decision.
- Markup nested deeper than `MAX_HTML_DEPTH` is cut off where it gets that deep: the
  HTML5 tree builder spends time proportional to the depth on every element. Long runs of
  character references get an empty comment every 64 references, which the sanitizer
  strips again: one text node of many references is also quadratic to build.
"""

from __future__ import annotations

import re

import nh3

MAX_HTML_DEPTH = 256

SAFE_CSS_PROPERTIES = frozenset(
    {
        "background-color",
        "border",
        "border-bottom",
        "border-collapse",
        "border-color",
        "border-left",
        "border-right",
        "border-spacing",
        "border-style",
        "border-top",
        "border-width",
        "color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-variant",
        "font-weight",
        "height",
        "letter-spacing",
        "line-height",
        "margin",
        "margin-bottom",
        "margin-left",
        "margin-right",
        "margin-top",
        "max-width",
        "min-width",
        "padding",
        "padding-bottom",
        "padding-left",
        "padding-right",
        "padding-top",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "vertical-align",
        "white-space",
        "width",
        "word-break",
        "word-wrap",
    }
)

_REMOVED_WITH_CONTENT = frozenset(
    {
        "applet",
        "embed",
        "head",
        "iframe",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "script",
        "style",
        "template",
        "title",
    }
)

_TAGS = (frozenset(nh3.ALLOWED_TAGS) | {"font", "center", "tfoot"}) - _REMOVED_WITH_CONTENT

_TABLE_LAYOUT = frozenset({"align", "valign", "bgcolor", "width", "height"})
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "width", "height", "align", "border"},
    "font": {"color", "face", "size"},
    "table": {"align", "bgcolor", "border", "cellpadding", "cellspacing", "width", "height"},
    "td": set(nh3.ALLOWED_ATTRIBUTES.get("td", set())) | _TABLE_LAYOUT,
    "th": set(nh3.ALLOWED_ATTRIBUTES.get("th", set())) | _TABLE_LAYOUT,
    "tr": set(nh3.ALLOWED_ATTRIBUTES.get("tr", set())) | _TABLE_LAYOUT,
}

_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
_LINK_REL = "noopener noreferrer nofollow"

_UNSAFE_CSS = re.compile(
    r"url\s*\(|image\s*\(|image-set\s*\(|@import|expression\s*\(|behavior|-moz-binding"
    r"|javascript:|/\*|\\",
    re.IGNORECASE,
)


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if attribute == "style" and _UNSAFE_CSS.search(value):
        return None
    return value


_SANITIZER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=_REMOVED_WITH_CONTENT,
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    link_rel=_LINK_REL,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=_URL_SCHEMES,
    url_relative="deny",
    filter_style_properties=SAFE_CSS_PROPERTIES,
)


def sanitize_html(html: str) -> str:
    """Return `html` reduced to markup that is safe to render in an agent's browser.

    See the module docstring for the policy. Never raises on any input string; markup
    nested deeper than `MAX_HTML_DEPTH` is cut off at that point.
    """
    return _SANITIZER.clean(_prepare(html))


def _prepare(html: str) -> str:
    """Bound the work of the HTML5 tree builder (see the module docstring)."""
    return _REFERENCE_RUN.sub(_split_reference_run, cut_deep_nesting(html, MAX_HTML_DEPTH))


_REFERENCE_RUN = re.compile(r"(?:&[^&<>]*){64}")


def _split_reference_run(match: re.Match[str]) -> str:
    return match.group(0) + "<!---->"


# --- nesting guard -------------------------------------------------------------------

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
# An open element of one of these names is closed by the next one (`<li>a<li>b`).
_SIBLING_CLOSED = frozenset({"p", "li", "dt", "dd", "option", "tr", "td", "th"})
# An end tag may close elements left open inside it (`<div><p>x</div>`); look this far.
_END_TAG_REACH = 4


def cut_deep_nesting(html: str, max_depth: int) -> str:
    """Cut `html` at the first tag that would open more than `max_depth` elements.

    The depth is estimated from tag names alone and errs high, so ordinary mail is never
    cut and hostile mail is cut early. Linear in the length of `html`.
    """
    if html.count("<") <= max_depth:
        return html
    open_elements: list[str] = []
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID:
            continue
        if match.group(1):
            _close(open_elements, name)
            continue
        if open_elements and open_elements[-1] == name and name in _SIBLING_CLOSED:
            continue
        open_elements.append(name)
        if len(open_elements) > max_depth:
            return html[: match.start()]
    return html


def _close(open_elements: list[str], name: str) -> None:
    for offset in range(1, min(len(open_elements), _END_TAG_REACH) + 1):
        if open_elements[-offset] == name:
            del open_elements[-offset:]
            return


# --- HTML to text --------------------------------------------------------------------

_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "hr"}
)
_LINE_TAGS = frozenset(
    {
        "div", "li", "dt", "dd", "tr", "address", "article", "aside", "footer", "header",
        "section", "nav", "caption", "figure", "figcaption", "center", "details", "summary",
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_TEXT_TAGS = _PARAGRAPH_TAGS | _LINE_TAGS | _CELL_TAGS | {"br", "blockquote"}

_STRUCTURE = nh3.Cleaner(
    tags=_TEXT_TAGS,
    clean_content_tags=_REMOVED_WITH_CONTENT,
    attributes={},
    link_rel=None,
)
# The structure cleaner leaves only attribute-free tags and escaped text.
_TOKEN = re.compile(r"<(/?)([a-z0-9]+)>|([^<]+)")
_WHITESPACE = re.compile(r"[ \t\r\n\f]+")


def html_to_text(html: str) -> str:
    """Return the readable text of `html`, one line per block, quotes prefixed with ">".

    Block elements end lines, paragraphs are separated by one blank line, `<br>` breaks a
    line, entities are unescaped, `<pre>` keeps its whitespace and the content of
    `<blockquote>` is prefixed with "> " per level, so quoted history stays recognizable.
    Script, style and other non-content elements contribute nothing.
    """
    structure = _STRUCTURE.clean(_prepare(html))
    builder = _TextBuilder()
    for match in _TOKEN.finditer(structure):
        closing, tag, text = match.groups()
        if text is not None:
            builder.text(_unescape_serialized(text))
        else:
            builder.tag(tag, closing=bool(closing))
    return builder.result()


def _unescape_serialized(text: str) -> str:
    """Undo the escaping of the HTML5 serializer, which writes only these references."""
    if "&" not in text:
        return text
    for reference, character in _SERIALIZER_REFERENCES:
        text = text.replace(reference, character)
    return text


_SERIALIZER_REFERENCES = (
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", '"'),
    ("&nbsp;", "\xa0"),
    ("&amp;", "&"),  # last, so "&amp;lt;" becomes "&lt;", not "<"
)


class _TextBuilder:
    """Collects text into lines, each remembering its blockquote depth."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.current_depth = 0
        self.depth = 0
        self.in_pre = 0

    def tag(self, name: str, *, closing: bool) -> None:
        if name == "br":
            self.hard_break()
        elif name == "blockquote":
            self.quote(closing=closing)
        elif name in _CELL_TAGS:
            if not closing and self.current:
                self.current.append(" ")
        elif name in _PARAGRAPH_TAGS:
            self.paragraph_break()
            if name == "pre":
                self.in_pre = max(0, self.in_pre + (-1 if closing else 1))
        else:
            self.line_break()

    def text(self, text: str) -> None:
        if self.in_pre:
            first, *rest = text.split("\n")
            self._append(first)
            for line in rest:
                self._finish_line()
                self._append(line)
            return
        text = _WHITESPACE.sub(" ", text)
        if not self.current:
            text = text.lstrip()
        self._append(text)

    def _append(self, text: str) -> None:
        if not text:
            return
        if not self.current:
            self.current_depth = self.depth
        self.current.append(text)

    def _finish_line(self) -> None:
        depth = self.current_depth if self.current else self.depth
        self.lines.append((depth, "".join(self.current)))
        self.current = []

    def line_break(self) -> None:
        if self.current:
            self._finish_line()

    def hard_break(self) -> None:
        self._finish_line()

    def paragraph_break(self) -> None:
        self.line_break()
        if not self.lines:
            return
        last_depth, last_text = self.lines[-1]
        if last_text.strip() or last_depth != self.depth:
            self.lines.append((self.depth, ""))

    def quote(self, *, closing: bool) -> None:
        """Enter or leave a blockquote; the blank line around it belongs to the outside."""
        if closing:
            self.line_break()
            self.depth = max(0, self.depth - 1)
            self.paragraph_break()
        else:
            self.paragraph_break()
            self.depth += 1

    def result(self) -> str:
        self.line_break()
        rendered: list[str] = []
        for depth, line in self.lines:
            text = line.replace("\xa0", " ").rstrip()
            prefix = ">" * depth
            rendered_line = f"{prefix} {text}" if prefix and text else prefix + text
            if not text and rendered and rendered[-1] == rendered_line:
                continue
            rendered.append(rendered_line)
        filled = [index for index, line in enumerate(rendered) if line.strip(">")]
        if not filled:
            return ""
        return "\n".join(rendered[filled[0] : filled[-1] + 1])
