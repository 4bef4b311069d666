"""How every command reports a problem the user can fix: one line on stderr, no traceback,
and an exit code that says what to do next (`clear_errors`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

err = Console(stderr=True)


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a user fixes in the command, the config or the inputs (EXIT_USER)."""
    from skillfit.core.errors import TrainError
    from skillfit.harness import HarnessError
    from skillfit.models.base import SkillfitModelError
    from skillfit.skill import SkillFileError
    from skillfit.tasks.base import TaskDataError
    from skillfit.tasks.sandbox import SandboxUnavailable
    from skillfit.train.config import ConfigError

    return (
        TrainError,
        ConfigError,
        SkillFileError,
        TaskDataError,
        SkillfitModelError,
        HarnessError,
        SandboxUnavailable,
    )


# Exit codes: 2 a problem the user can fix before the run (config, paths, inputs); 3 the run
# stopped because the model calls kept failing (fix the server or key, then resume) or another
# process held the response cache's lock too long (free it, then resume); 130 ^C.
EXIT_USER, EXIT_INFRA = 2, 3


def os_error_line(exc: OSError) -> str:
    """One line for a file-system mistake: what is wrong with which path."""
    path = exc.filename if exc.filename is not None else ""
    other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return f"{path}{other}: a file stands where a folder is needed (check --out, run.out_dir)"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a folder, a file is needed"
    if isinstance(exc, PermissionError) or exc.errno in (13, 30):  # EACCES, EROFS
        return f"{path}{other}: not writable ({exc.strerror}); choose another --out or fix it"
    return f"{path}{other}: {exc.strerror or exc}" if path else str(exc)


def say(message: str) -> None:
    from skillfit.models.redact import redact

    # The message is plain text: brackets in it (`skillfit[local]`) are not markup.
    err.print(Text("error: ", style="red") + Text(redact(message)), highlight=False, soft_wrap=True)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Problems the user can fix are printed as one line, without a traceback."""
    import sqlite3

    from skillfit.core.errors import InfraFailure
    from skillfit.harness.cli_agent import EndpointUnreachable
    from skillfit.models.cache import CacheBusy

    try:
        yield
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: run the same command again to resume from the last step")
        raise typer.Exit(130) from None
    except (InfraFailure, EndpointUnreachable) as exc:
        say(str(exc))
        raise typer.Exit(EXIT_INFRA) from None
    except CacheBusy as exc:
        # Nothing of the unit it stopped in was recorded, like an InfraFailure.
        say(
            f"{exc} Stopped here: run the same command again once the cache is free "
            "(a training run resumes from its last finished step)."
        )
        raise typer.Exit(EXIT_INFRA) from None
    except user_errors() as exc:
        say(str(exc))
        raise typer.Exit(EXIT_USER) from None
    except OSError as exc:
        say(os_error_line(exc))
        raise typer.Exit(EXIT_USER) from None
    except sqlite3.Error as exc:
        say(f"database error: {exc}")
        raise typer.Exit(EXIT_USER) from None
