"""A readable line diff between two skill texts (difflib; equal runs folded)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # same / del / add / fold
    old: int | None
    new: int | None
    text: str


def line_diff(a: str, b: str, context: int = 3) -> list[DiffLine]:
    """The lines of `a` and `b` with deletions and additions marked; runs of unchanged lines
    longer than 2×context are folded into one `fold` line."""
    old, new = a.splitlines(), b.splitlines()
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            run = [DiffLine("same", i1 + k + 1, j1 + k + 1, old[i1 + k]) for k in range(i2 - i1)]
            if len(run) > 2 * context + 1:
                head = run[:context] if out else []
                tail = run[-context:] if i2 < len(old) or j2 < len(new) else []
                folded = len(run) - len(head) - len(tail)
                out += head
                if folded:
                    out.append(DiffLine("fold", None, None, f"{folded} unchanged lines"))
                out += tail
            else:
                out += run
            continue
        out += [DiffLine("del", i + 1, None, old[i]) for i in range(i1, i2)]
        out += [DiffLine("add", None, j + 1, new[j]) for j in range(j1, j2)]
    return out


def counts(lines: list[DiffLine]) -> tuple[int, int]:
    return sum(1 for x in lines if x.kind == "add"), sum(1 for x in lines if x.kind == "del")
