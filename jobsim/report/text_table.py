"""Plain-text tables that fit a terminal's 80 columns without cutting a cell.

Why not rich's tables here: rich shrinks every column when a table is too wide and
ends cells with "…" ("attemp…"). This layout keeps every figure whole: numeric columns
take their widest cell (headers wrap at spaces, one word per line if need be), and the
first column, usually a long name, takes what is left and wraps onto more lines.
"""

from __future__ import annotations

import re
import textwrap

WIDTH = 80
GAP = "  "
MIN_FIRST = 10


def render(title: str, header: list[str], rows: list[list[str]], width: int = WIDTH) -> str:
    """The table as lines of at most ``width`` characters (a first column narrower than
    MIN_FIRST is the only way past it: the figures stay whole)."""
    others = [max([*(len(w) for w in header[i].split()), *(len(r[i]) for r in rows)], default=1)
              for i in range(1, len(header))]
    room = width - sum(others) - len(GAP) * (len(header) - 1)
    longest = max([len(header[0]), *(len(r[0]) for r in rows)])
    first = max(MIN_FIRST, min(longest, room))
    widths = [first, *others]
    lines = [title, ""] if title else []
    head = [textwrap.wrap(h, w, break_long_words=True) or [""]
            for h, w in zip(header, widths, strict=True)]
    depth = max(len(h) for h in head)
    for k in range(depth):
        lines.append(_line([h[k - depth + len(h)] if k >= depth - len(h) else ""
                            for h in head], widths))
    lines.append(GAP.join("-" * w for w in widths))
    for row in rows:
        names = _wrap_name(row[0], first)
        lines.append(_line([names[0], *row[1:]], widths))
        lines += [names[k].ljust(first) for k in range(1, len(names))]
    return "\n".join(line.rstrip() for line in lines)


def _line(cells: list[str], widths: list[int]) -> str:
    return GAP.join(c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def _wrap_name(text: str, width: int) -> list[str]:
    """Lines of at most ``width``, broken after ``:`` and ``,`` (policy specs) or at
    spaces, and inside a part only when the part alone is too long."""
    parts = re.split(r"(?<=[,:])|(?<= )", text)
    lines, line = [], ""
    for part in parts:
        if len(line) + len(part) > width and line:
            lines.append(line.rstrip())
            line = ""
        while len(part) > width:
            lines.append(part[:width])
            part = part[width:]
        line += part
    smart = [*lines, line.rstrip()] if line or not lines else lines
    hard = textwrap.wrap(text, width, break_long_words=True) or [""]
    return smart if len(smart) <= len(hard) else hard
