"""The ERB a sidekiq.yml commonly holds, read as the defaults it names.

Sidekiq runs its config file through ERB before YAML, and teams use that for one thing
above all: a setting taken from the environment with a fallback,
``:concurrency: <%= ENV.fetch("RAILS_MAX_THREADS", 5) %>``. jobsim cannot run Ruby and
never reads the shell's environment (a scenario must run the same on every machine), so
each such tag is replaced by its fallback, with a warning naming the line and the value
used. The forms read:

* ``ENV.fetch("NAME", DEFAULT)`` and ``ENV.fetch("NAME") { DEFAULT }``;
* ``ENV["NAME"] || DEFAULT``;
* any of those inside ``Integer(...)``, or followed by ``.to_i`` (``(...).to_i``);
* a bare literal (``<%= 10 %>``), and comments (``<%# ... %>``), which render to nothing.

DEFAULT is an integer or a quoted string. Anything else (a control tag ``<% if ... %>``,
another expression) is refused with the file, line and column, as before: render the
file first, or write the values.
"""

from __future__ import annotations

import re

from jobsim.scenario.errors import ScenarioError

_TAG = re.compile(r"<%(?P<kind>[=#]?)(?P<body>.*?)-?%>", re.DOTALL)
_NAME = r"""(?:"[A-Za-z_][A-Za-z0-9_]*"|'[A-Za-z_][A-Za-z0-9_]*')"""
_LITERAL = r"""(?P<literal>-?\d+|"[^"\\#<>%]*"|'[^'\\<>%]*')"""
_READS = [re.compile(rf"^{form}$") for form in (
    rf"ENV\.fetch\(\s*{_NAME}\s*,\s*{_LITERAL}\s*\)",
    rf"ENV\.fetch\(\s*{_NAME}\s*\)\s*\{{\s*{_LITERAL}\s*\}}",
    rf"ENV\[\s*{_NAME}\s*\]\s*\|\|\s*{_LITERAL}",
    _LITERAL,
)]
_TO_INTEGER = (re.compile(r"^Integer\((?P<inner>.*)\)$"), re.compile(r"^\((?P<inner>.*)\)\.to_i$"),
               re.compile(r"^(?P<inner>.*?)\.to_i$"))


def render(text: str, file: str) -> tuple[str, list[str]]:
    """TEXT with every supported ERB tag replaced by its default, and one note per tag
    saying which value was used (the caller warns with them); a ScenarioError naming
    the line and column of the first tag jobsim cannot read."""
    if "<%" not in text:
        return text, []
    out, notes, last = [], [], 0
    for tag in _TAG.finditer(text):
        out.append(text[last:tag.start()])
        out.append(_value(tag, text, file, notes))
        last = tag.end()
    tail = text[last:]
    if "<%" in tail:         # a tag without its %> (no match can start after one)
        _refuse(text, last + tail.index("<%"), file, "an ERB tag (<%) without its %>")
    return "".join(out) + tail, notes


def _value(tag: re.Match[str], text: str, file: str, notes: list[str]) -> str:
    if tag["kind"] == "#":
        return ""
    body = tag["body"].strip()
    if tag["kind"] != "=":
        _refuse(text, tag.start(), file, f"ERB control tag <%{tag['body']}%>")
    value = _default(body)
    if value is None:
        _refuse(text, tag.start(), file, f"ERB <%={tag['body']}%>")
    line = text.count("\n", 0, tag.start()) + 1
    notes.append(f"{file}:{line}: ERB <%= {body} %> read as its default, {value} (jobsim "
                 "never reads the shell's environment: write another value in the file, "
                 "or in the scenario's system section, to model it)")
    return str(value)


def _default(body: str) -> str | None:
    """The text of the default BODY names, or None if BODY is not a form jobsim reads."""
    integer = False
    for wrapper in _TO_INTEGER:
        found = wrapper.match(body)
        if found:
            body, integer = found["inner"].strip(), True
            break
    for read in _READS:
        found = read.match(body)
        if found:
            literal = found["literal"]
            text = literal[1:-1] if literal[0] in "\"'" else literal
            if integer:
                if not re.fullmatch(r"-?\d+", text.strip()):
                    return None
                return str(int(text))
            return text
    return None


def _refuse(text: str, at: int, file: str, what: str) -> None:
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    raise ScenarioError(file, "", f"{what} is not supported: jobsim reads plain YAML and "
                        "the ENV.fetch / ENV[...] || default forms (docs/scenarios.md); "
                        "render the file first or write the values", line=line, column=column)
