"""Where a field sits in the file, and the budgets checked before a document is built.

Scenario files are read in three steps: ``scan`` walks PyYAML's event stream (a state
machine, so a 1,000-deep ``[[[...]]]`` cannot exhaust Python's stack) and refuses a
document deeper than ``MAX_DEPTH``, aliases expanding to more than ``MAX_ALIAS_NODES``
nodes (the "billion laughs" bomb) or an oversized string; only then is it composed into
nodes, which keep every field's line and column; the nodes are then constructed into
plain values. ``locate`` maps a field path back to its node, so every problem names
``FILE:LINE:COL``.
"""

from __future__ import annotations

import yaml

from jobsim.scenario.errors import Part, ScenarioError

MAX_DEPTH = 50  # nested mappings and lists
MAX_ALIAS_NODES = 10_000  # nodes that aliases add when expanded
MAX_SCALAR = 65_536  # characters in one scalar (the longest string a field accepts)
MAX_FILE_BYTES = 4 * 1024 * 1024


def error_at(file: str, mark: yaml.Mark | None, reason: str) -> ScenarioError:
    if mark is None:
        return ScenarioError(file, "", reason)
    return ScenarioError(file, "", reason, (), mark.line + 1, mark.column + 1)


def reader_error(file: str, text: str, err: yaml.reader.ReaderError) -> ScenarioError:
    """A character YAML refuses (a control character, say), at its line and column:
    PyYAML's own message for it spans lines and names no line."""
    at = min(max(err.position, 0), len(text))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    char = err.character
    shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
    return ScenarioError(file, "", f"invalid YAML: unacceptable character {shown}: "
                         f"{err.reason}", (), line, column)


def scan(text: str, file: str) -> None:
    """Refuse documents over the depth, alias or string budget, before composing them."""
    depth = 0
    sizes: dict[str, int] = {}  # anchor -> nodes in its expansion
    open_sizes: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open node
    added = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise error_at(file, event.start_mark,
                               f"nesting deeper than {MAX_DEPTH} levels; scenario files are "
                               "shallow, so this is a mistake or an attack")
            open_sizes.append((event.anchor, 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, size = open_sizes.pop()
            _close(anchor, size, sizes, open_sizes)
        elif isinstance(event, yaml.ScalarEvent):
            if len(event.value) > MAX_SCALAR:
                raise error_at(file, event.start_mark,
                               f"a string of {len(event.value)} characters; at most "
                               f"{MAX_SCALAR} allowed")
            _close(event.anchor, 1, sizes, open_sizes)
        elif isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor, 1)
            added += size
            if added > MAX_ALIAS_NODES:
                raise error_at(file, event.start_mark,
                               f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                               "(an alias bomb?); write the values out or use fewer aliases")
            _close(None, size, sizes, open_sizes)


def _close(anchor: str | None, size: int, sizes: dict[str, int],
           open_sizes: list[tuple[str | None, int]]) -> None:
    """A node of SIZE nodes ended: remember its anchor, add it to its parent."""
    if anchor is not None:
        sizes[anchor] = size
    if open_sizes:
        parent, total = open_sizes[-1]
        open_sizes[-1] = (parent, total + size)


def locate(node: yaml.Node | None, parts: tuple[Part, ...]) -> tuple[int, int]:
    """1-based (line, column) of the deepest node PARTS reaches; (0, 0) without a node.

    A mapping entry is placed at its key, a list item at the item."""
    if node is None:
        return 0, 0
    mark = node.start_mark
    for part in parts:
        found = _child(node, part)
        if found is None:
            break
        mark, node = found
    return mark.line + 1, mark.column + 1


def _child(node: yaml.Node, part: Part) -> tuple[yaml.Mark, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part].start_mark, node.value[part]
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    merged = None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == str(part) and key.tag != MERGE:
            return key.start_mark, value
        if key.tag == MERGE:
            merged = value
    for source in _merge_sources(merged):
        found = _child(source, part)
        if found is not None:
            return found
    return None


MERGE = "tag:yaml.org,2002:merge"


def _merge_sources(node: yaml.Node | None) -> list[yaml.Node]:
    if node is None:
        return []
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node]


def place(error: ScenarioError, node: yaml.Node | None) -> ScenarioError:
    """ERROR with the line and column of its path, unless it already has them."""
    if error.line or node is None:
        return error
    line, column = locate(node, error.parts)
    return error.at(line, column)
