"""Measure src/skillfit's module import graph: import circles, imports pointing up a layer, and
files over 600 lines (issue 22's three numbers). TYPE_CHECKING imports count.

    PYTHONPATH=src python bench/import_graph.py           # this tree
    git archive <commit> | tar -x -C /tmp/old && (cd /tmp/old && PYTHONPATH=src python \
        /path/to/bench/import_graph.py)                   # an older tree

A circle is a strongly connected group of modules (Tarjan). The layers are DESIGN's, top to
bottom, with the places modules had before they moved (runtime/, train/audit, readfile) so an
older tree is measured the same way; `lint-imports` enforces the same layers on this tree.
"""

from __future__ import annotations

import os
import sys

import grimp

LAYERS: list[tuple[str, list[str]]] = [
    ("cli", ["skillfit.cli", "skillfit.__main__"]),
    ("dashboard", ["skillfit.dashboard"]),
    ("api", ["skillfit.api"]),
    (
        "app",
        [
            "skillfit.app",
            "skillfit.report",
            "skillfit.app.compare",
            "skillfit.app.seeds",
            "skillfit.train.audit",
            "skillfit.train.transfer",
        ],
    ),
    ("strategies", ["skillfit.strategies"]),
    ("train", ["skillfit.train", "skillfit.runtime"]),
    ("optim", ["skillfit.optim"]),
    ("harness", ["skillfit.harness"]),
    ("tasks", ["skillfit.tasks"]),
    ("record", ["skillfit.record"]),
    ("models/skill", ["skillfit.models", "skillfit.skill"]),
    ("core", ["skillfit.core", "skillfit.core.readfile"]),
]
# optim and harness are one layer (neither may import the other: lint-imports checks that).
SAME_RANK = {"harness": "optim"}


def layer_of(module: str) -> tuple[str, int]:
    best: tuple[int, str, int] | None = None
    for rank, (name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), name, rank)
    if best is None:
        return "root", -1  # skillfit/__init__.py: the package itself, above every layer
    name, rank = best[1], best[2]
    if name in SAME_RANK:
        rank = next(i for i, (n, _) in enumerate(LAYERS) if n == SAME_RANK[name])
    return name, rank


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def main() -> None:
    graph = grimp.build_graph("skillfit", exclude_type_checking_imports=False)
    groups = circles(graph)
    print(f"import circles (strongly connected groups of modules): {len(groups)}")
    for group in groups:
        print("  -", ", ".join(m.removeprefix("skillfit.") for m in group))
    upward = []
    for module in sorted(graph.modules):
        name, rank = layer_of(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            other, other_rank = layer_of(imported)
            if 0 <= other_rank < rank:
                details = graph.get_import_details(importer=module, imported=imported)
                lines = [d["line_number"] for d in details]
                upward.append(f"{module} ({name}) -> {imported} ({other}) line {lines}")
    print(f"upward imports (a lower layer importing a higher one): {len(upward)}")
    for line in upward:
        print("  -", line)
    big = []
    for root, _, files in os.walk("src/skillfit"):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                with open(path, encoding="utf-8") as fh:
                    n = sum(1 for _ in fh)
                if n > 600:
                    big.append((n, path))
    print(f"files over 600 lines: {len(big)}")
    for n, path in sorted(big, reverse=True):
        print(f"  - {path}: {n}")


if __name__ == "__main__":
    main()
