"""Guard against edits that copy training data into the skill."""

from __future__ import annotations

from collections.abc import Iterable


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def mentions_any(text: str, needles: Iterable[str], min_len: int = 12) -> str | None:
    """The first non-blank needle (as given) that occurs in `text`, or None.

    Comparison ignores case and treats any run of whitespace as one space. Needles shorter
    than `min_len` characters after that normalization are skipped: short strings such as
    "True" or "(A)" occur in any skill and say nothing about copying."""
    haystack = _norm(text)
    for needle in needles:
        n = _norm(needle)
        if n and len(n) >= min_len and n in haystack:
            return needle
    return None
