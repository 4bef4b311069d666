"""The reliability suite: each test keeps one finding of the adversarial pass (issue 10) fixed.
The loopback fault server lives in bench/ (bench/reliability.py uses it too)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "bench", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
