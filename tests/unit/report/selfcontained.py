"""Assertions that an HTML report opens offline: nothing fetched, every image inline."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.svgs = 0
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "svg":
            self.svgs += 1
        for name in ("src", "href", "srcset", "data", "action"):
            if values.get(name):
                self.refs.append((tag, name, values[name] or ""))


def assert_self_contained(path: Path) -> int:
    """Every img is a decodable PNG data URI or an inline svg, no external URL anywhere in
    src/href, no external script, stylesheet or font. Returns the number of images."""
    text = path.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    for tag, name, value in parser.refs:
        assert not re.match(r"\s*(https?:)?//", value), f"{path.name}: {tag} {name}={value[:60]}"
        if tag in ("script", "link", "iframe"):
            raise AssertionError(f"{path.name}: external {tag} {name}={value[:60]}")
    for src in parser.images:
        assert src.startswith("data:image/png;base64,"), f"{path.name}: img src={src[:60]}"
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    assert "@import" not in text and "url(http" not in text
    return len(parser.images) + parser.svgs
