"""Waiting in tests without depending on the machine's speed: a test waits for an event (a
file, a line, a process state); the bound here only ends a wait that would otherwise hang, and
is far beyond what any working machine takes, however loaded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Seconds. Only a real hang reaches it; a slow machine never should.
HANG_S = 300.0


def wait_for(check: Callable[[], T], what: str, *, bound: float = HANG_S, every: float = 0.05) -> T:
    """`check()`'s first truthy value, asked every `every` seconds; AssertionError naming `what`
    if it never comes within `bound` seconds."""
    deadline = time.monotonic() + bound
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {bound:.0f} s waiting for {what}")
        time.sleep(every)
