"""Merge and rank: many minibatches propose overlapping edits. Near-identical edits are one
edit with more support; edits fighting over the same section or anchor are resolved in favour
of the better supported one; the top `budget` go on."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.skill import Edit, slugify

SIMILAR = 0.8  # content similarity above which two edits of the same place count as one


@dataclass
class Candidate:
    edit: Edit  # the representative: the first proposal of its group
    sources: list[int] = field(default_factory=list)  # minibatches that proposed it
    coverage: int = 0  # failures seen by those minibatches
    first: int = 0  # position of the first proposal, for a stable order
    n_proposals: int = 1

    def rank_key(self) -> tuple[int, int, int]:
        return (-len(set(self.sources)), -self.coverage, self.first)

    def to_dict(self) -> dict[str, Any]:
        return {
            "edit": self.edit.model_dump(mode="json"),
            "sources": sorted(set(self.sources)),
            "support": len(set(self.sources)),
            "coverage": self.coverage,
            "n_proposals": self.n_proposals,
        }


def address_by_heading(edit: Edit, section_ids: Sequence[str]) -> Edit:
    """A replace or delete that names no section and no anchor, but whose content starts with
    the heading of an existing section, is addressed to that section (small optimizers write
    the heading and leave "section" empty). Anything else is returned unchanged, to be
    reported as unapplicable if it is."""
    if edit.op == "add" or edit.section or edit.anchor:
        return edit
    match = re.match(r"\s*#{1,6}\s+(.+)", edit.content)
    if match:
        sid = slugify(match.group(1).strip().rstrip("#").strip())
        if sid in section_ids:
            return edit.model_copy(update={"section": sid})
    return edit


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def _place(edit: Edit) -> tuple[str | None, str]:
    return edit.section, _norm(edit.anchor)


def similar(a: Edit, b: Edit) -> bool:
    """Same operation at the same place with (nearly) the same content."""
    if a.op != b.op or _place(a) != _place(b):
        return False
    ca, cb = _norm(a.content), _norm(b.content)
    if ca == cb:
        return True
    return difflib.SequenceMatcher(None, ca, cb, autojunk=False).ratio() >= SIMILAR


def merge(proposals: Sequence[tuple[int, Edit]], failures: Mapping[int, int]) -> list[Candidate]:
    """Group near-identical edits; rank by how many minibatches proposed the group, then by how
    many failures those minibatches held, then by first appearance."""
    groups: list[Candidate] = []
    for position, (source, edit) in enumerate(proposals):
        for group in groups:
            if similar(group.edit, edit):
                group.n_proposals += 1
                if source not in group.sources:
                    group.sources.append(source)
                    group.coverage += failures.get(source, 0)
                break
        else:
            groups.append(
                Candidate(edit, [source], failures.get(source, 0), position, n_proposals=1)
            )
    return sorted(groups, key=Candidate.rank_key)


def _conflict(a: Edit, b: Edit) -> bool:
    if a.section is not None and a.section == b.section:
        return True
    aa, ab = _norm(a.anchor), _norm(b.anchor)
    return bool(aa and ab and (aa in ab or ab in aa))


def resolve_conflicts(ranked: Sequence[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
    """Keep, in rank order, each candidate that touches no place a better one already touches."""
    kept: list[Candidate] = []
    dropped: list[Candidate] = []
    for cand in ranked:
        if any(_conflict(cand.edit, k.edit) for k in kept):
            dropped.append(cand)
        else:
            kept.append(cand)
    return kept, dropped


def select(ranked: Sequence[Candidate], budget: int) -> tuple[list[Candidate], list[Candidate]]:
    """The top `budget` candidates and the rest."""
    budget = max(0, budget)
    return list(ranked[:budget]), list(ranked[budget:])
