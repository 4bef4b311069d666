"""The rejected-edit buffer: negative-gradient memory. Edits the gate turned down are kept with
their score change and shown to later reflections so the optimizer stops re-proposing them."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from skillfit.optim.merge import similar
from skillfit.optim.prompting import render_edit
from skillfit.skill import Edit
from skillfit.train.state import BufferEntry


def _edit(entry: BufferEntry) -> Edit | None:
    try:
        return Edit(**entry.edit)
    except (TypeError, ValidationError):
        return None


def push(
    buffer: Sequence[BufferEntry], entries: Sequence[BufferEntry], max_items: int
) -> list[BufferEntry]:
    """The buffer with `entries` appended, keeping the most recent `max_items`. An entry whose
    edit is `similar` (merge.similar) to one already held replaces it: the newer verdict is
    the one that counts, and one edit listed twice would crowd out the others."""
    out = list(buffer)
    for entry in entries:
        new = _edit(entry)
        if new is not None:
            out = [e for e in out if (old := _edit(e)) is None or not similar(old, new)]
        out.append(entry)
    return out[-max_items:] if max_items > 0 else []


def render_buffer(buffer: Sequence[BufferEntry], limit: int = 8) -> str:
    """The most recent rejected edits, one line each, for a reflection prompt."""
    lines = []
    for entry in list(buffer)[-limit:]:
        change = f"val score change {entry.delta:+.2f}" if entry.delta is not None else entry.reason
        lines.append(f"- {render_edit(entry.edit)} ({change})")
    return "\n".join(lines)
