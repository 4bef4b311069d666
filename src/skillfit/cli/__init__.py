"""The `skillfit` command. Each sub-command lives in its own module and adds itself to `app`
(skillfit.cli.root)."""

from __future__ import annotations

from skillfit.cli.root import app

# isort: off
# Imported for their side effect of adding commands to `app`, in the order `--help` lists them
# (train and eval first).
from skillfit.cli import train_cmd  # noqa: F401
from skillfit.cli import (  # noqa: F401
    check_cmd,
    init_cmd,
    judge_cmd,
    models_cmd,
    sleep_cmd,
    tasks_cmd,
    transfer_cmd,
    ui_cmd,
)
from skillfit.cli import compare_cmd  # noqa: F401  (compare, report)
from skillfit.cli import audit_cmd  # noqa: F401

# isort: on


def main() -> None:
    from skillfit.harness.cli_agent import reap_clis_on_exit

    reap_clis_on_exit()
    app()


__all__ = ["app", "main"]
