"""Untrusted text put into a prompt so that it cannot pose as the prompt's own structure.

Each part goes between two lines holding a tag that occurs in none of the parts:

    <<<BEGIN RESPONSE 3f9c0a7be21d>>>
    ...the text, whatever headings or markers it holds...
    <<<END RESPONSE 3f9c0a7be21d>>>

A row holding "## Rubric" or a reply holding ">>>" cannot close its part or open another,
since it cannot contain the tag. The tag is derived from the parts (and checked against them),
so the same parts make the same prompt: cached judge calls replay.
"""

from __future__ import annotations

import hashlib

__all__ = ["fence_tag", "fenced"]


def fence_tag(*parts: str) -> str:
    """A 12-hex-digit tag found in none of `parts`, the same for the same parts."""
    seed = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    for n in range(1000):
        tag = hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()[:12]
        if not any(tag in p for p in parts):
            return tag
    raise ValueError("no fence tag found outside the text")  # needs ~10^14 hex digits


def fenced(name: str, text: str, tag: str) -> str:
    """`text` between the BEGIN and END lines of part `name` (the tag from `fence_tag`)."""
    if tag in text:
        raise ValueError(f"the {name} part holds its own fence tag")
    return f"<<<BEGIN {name} {tag}>>>\n{text}\n<<<END {name} {tag}>>>"
