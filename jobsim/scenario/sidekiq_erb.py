"""The ERB a sidekiq.yml commonly holds, read as the defaults it names.

Sidekiq runs its config file through ERB (``trim_mode: "-"``) before YAML, and teams use
that for one thing above all: a setting taken from the environment with a fallback,
``:concurrency: <%= ENV.fetch("RAILS_MAX_THREADS", 5) %>``. jobsim cannot run Ruby and
never reads the shell's environment (a scenario must run the same on every machine), so
it reads each such tag as Ruby would with the variable unset. The forms read:

* ``ENV.fetch("NAME", DEFAULT)`` and ``ENV.fetch("NAME") { DEFAULT }``: DEFAULT;
* ``ENV["NAME"] || DEFAULT`` and ``ENV["NAME"]&.to_i || DEFAULT``: DEFAULT;
* ``ENV["NAME"] ? ... : DEFAULT``: DEFAULT;
* ``ENV["NAME"]`` alone: nil, which ERB prints as nothing (the key is then unset);
* a DEFAULT that is itself one of these reads (``ENV.fetch("A") { ENV.fetch("B", 5) }``);
* any of those inside ``Integer(...)``, or followed by ``.to_i`` or ``.to_s``;
* a bare literal (``<%= 10 %>``), and comments (``<%# ... %>``), which print nothing.

DEFAULT is an integer, a decimal, a quoted string or ``nil``. Another output tag
(``<%= AppConfig.threads %>``) cannot be read; it is replaced by a placeholder, and the
caller refuses it only where jobsim would use its value. A control tag (``<% if ... %>``)
may decide which lines exist, so it is refused at once, with its line and column.
``-%>`` drops the newline after it, as in Sidekiq.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobsim.scenario.errors import ScenarioError

_TAG = re.compile(r"<%(?P<kind>[=#]?)(?P<body>.*?)(?P<trim>-?)%>(?P<newline>\n?)", re.DOTALL)
_NAME = r"""(?:"[A-Za-z_][A-Za-z0-9_]*"|'[A-Za-z_][A-Za-z0-9_]*')"""
_ENV = rf"ENV\[\s*{_NAME}\s*\]"
_LITERAL = r"""(?P<literal>-?\d+(?:\.\d+)?|nil|"[^"\\#<>%]*"|'[^'\\<>%]*')"""
_UNSET_CAST = r"(?:\.to_i|\.to_s|&\.to_i|&\.to_s)?"
_READS = [re.compile(rf"^{form}$") for form in (
    rf"ENV\.fetch\(\s*{_NAME}\s*,\s*{_LITERAL}\s*\)",
    rf"ENV\.fetch\(\s*{_NAME}\s*\)\s*\{{\s*{_LITERAL}\s*\}}",
    rf"{_ENV}{_UNSET_CAST}\s*\|\|\s*{_LITERAL}",
    rf"{_ENV}\s*\?\s*(?:{_ENV}{_UNSET_CAST}|Integer\(\s*{_ENV}\s*\))\s*:\s*{_LITERAL}",
    _LITERAL,
)]
_NESTED = [re.compile(rf"^{form}$") for form in (      # a fallback that is itself a read
    rf"ENV\.fetch\(\s*{_NAME}\s*,\s*(?P<inner>ENV.*)\)",
    rf"ENV\.fetch\(\s*{_NAME}\s*\)\s*\{{\s*(?P<inner>ENV.*?)\s*\}}",
    rf"{_ENV}{_UNSET_CAST}\s*\|\|\s*(?P<inner>ENV.*)",
)]
_UNSET = re.compile(rf"^{_ENV}(?P<cast>\.to_i|\.to_s)?$")   # ENV["X"] alone: nil
_INTEGER = (re.compile(r"^Integer\((?P<inner>.*)\)$"), re.compile(r"^\((?P<inner>.*)\)\.to_i$"),
            re.compile(r"^(?P<inner>.*?)\.to_i$"))
_STRING = (re.compile(r"^\((?P<inner>.*)\)\.to_s$"), re.compile(r"^(?P<inner>.*?)\.to_s$"))
PLACEHOLDER = re.compile(r"jobsimERB(?P<index>\d+)x")


@dataclass(frozen=True)
class Tag:
    """One ``<%= %>`` tag: where it is, what it says, and the text jobsim reads it as
    (None when jobsim cannot read it)."""

    index: int
    line: int
    column: int
    body: str
    value: str | None

    @property
    def placeholder(self) -> str:
        return f"jobsimERB{self.index}x"

    def shown(self) -> str:
        return f"<%= {self.body} %>"


@dataclass(frozen=True)
class Rendered:
    """The text YAML reads, its output tags, and how to find a place in the source."""

    text: str
    tags: tuple[Tag, ...]
    source: str
    # (rendered start, rendered end, source start, source end) of each tag, in order
    spans: tuple[tuple[int, int, int, int], ...]

    def position(self, line: int, column: int) -> tuple[int, int]:
        """1-based LINE:COLUMN of the rendered text as a place in the source file."""
        if not self.spans or line <= 0:
            return line, column
        at = _offset(self.text, line, column)
        shift = 0                     # text between tags is copied: only the tags shift it
        for start, end, origin, origin_end in self.spans:
            if at < start:
                break
            if at < end:
                return _place(self.source, origin)
            shift = origin_end - end
        return _place(self.source, at + shift)


def _offset(text: str, line: int, column: int) -> int:
    at = 0
    for _ in range(line - 1):
        found = text.find("\n", at)
        if found < 0:
            return len(text)
        at = found + 1
    return min(at + max(column - 1, 0), len(text))


def _place(text: str, at: int) -> tuple[int, int]:
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def render(text: str, file: str, *, placeholders: bool = False) -> Rendered:
    """TEXT with each output tag replaced by what jobsim reads it as (its placeholder
    when it cannot, or for every tag with ``placeholders``), comments by nothing; a
    ScenarioError at the first control tag or unclosed tag."""
    if "<%" not in text:
        return Rendered(text, (), text, ())
    out: list[str] = []
    tags: list[Tag] = []
    spans: list[tuple[int, int, int, int]] = []
    last, length = 0, 0
    for found in _TAG.finditer(text):
        before = text[last:found.start()]
        out.append(before)
        length += len(before)
        keep_newline = found["newline"] if not found["trim"] else ""
        if found["kind"] == "#":
            piece = ""
        elif found["kind"] != "=":
            _refuse(text, found.start(), file, f"ERB control tag <%{found['body']}%>",
                    "jobsim cannot run Ruby, so it cannot tell which lines this tag keeps: "
                    "render the file first (erb -T - config/sidekiq.yml) or write the "
                    "lines Sidekiq would see")
        else:
            line, column = _place(text, found.start())
            tag = Tag(len(tags), line, column, found["body"].strip(),
                      _default(found["body"].strip()))
            tags.append(tag)
            piece = tag.placeholder if placeholders or tag.value is None else tag.value
        piece += keep_newline
        spans.append((length, length + len(piece), found.start(), found.end()))
        out.append(piece)
        length += len(piece)
        last = found.end()
    tail = text[last:]
    if "<%" in tail:         # a tag without its %> (no match can start after one)
        _refuse(text, last + tail.index("<%"), file, "an ERB tag (<%) without its %>",
                "close it with %>")
    return Rendered("".join(out) + tail, tuple(tags), text, tuple(spans))


def _default(body: str) -> str | None:
    """The text BODY prints with its variable unset, or None if jobsim cannot read it.

    ERB prints a value's ``to_s``, so a string default and a number print alike and
    ``.to_s`` changes nothing; ``.to_i`` and ``Integer()`` need a whole number."""
    integer = False
    unset = _UNSET.match(body)
    if unset is None:
        for wrapper in (*_INTEGER, *_STRING):
            found = wrapper.match(body)
            if found:
                body, integer = found["inner"].strip(), wrapper in _INTEGER
                break
        unset = _UNSET.match(body)
    if unset:                                    # nil prints nothing; nil.to_i is 0
        if integer and not unset["cast"]:
            return None                          # Integer(nil) raises in Ruby
        return "0" if unset["cast"] == ".to_i" else ""
    for read in _READS:
        found = read.match(body)
        if found:
            literal = found["literal"]
            text = "" if literal == "nil" else (
                literal[1:-1] if literal[0] in "\"'" else literal)
            if integer:
                return str(int(text)) if re.fullmatch(r"-?\d+", text.strip()) else None
            return text
    for nested in _NESTED:
        found = nested.match(body)
        if found:
            text = _default(found["inner"].strip())
            if text is None or not integer:
                return text
            return str(int(text)) if re.fullmatch(r"-?\d+", text.strip()) else None
    return None


def _refuse(text: str, at: int, file: str, what: str, fix: str) -> None:
    line, column = _place(text, at)
    raise ScenarioError(file, "", f"{what} is not supported: {fix}", line=line,
                        column=column)
