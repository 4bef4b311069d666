"""`python -m skillfit.cli.launched ARGS`: `skillfit ARGS` plus the `--set` overrides the
dashboard passes in the environment (SKILLFIT_UI_SET, a JSON list).

A launch's overrides may hold a key inside a model's base URL (`openai:m@http://u:KEY@host`):
a process's command line is readable by every local user (`ps`), its environment only by its
own user, so the overrides travel there and never appear in the command line. The variable is
removed before the CLI starts, so no process the run starts inherits it.
"""

from __future__ import annotations

import json
import os
import signal
import sys

ENV = "SKILLFIT_UI_SET"


def main() -> None:
    # The dashboard's Stop is a ^C: honour it even when the dashboard was started with SIGINT
    # ignored (nohup, a background job), which its children would otherwise inherit.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raw = os.environ.pop(ENV, "")
    overrides = json.loads(raw) if raw else []
    args = sys.argv[1:]
    for override in overrides:
        args += ["--set", str(override)]
    sys.argv = ["skillfit", *args]
    from skillfit.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
