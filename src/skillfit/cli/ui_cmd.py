"""`skillfit ui`: the web dashboard over a folder of runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from skillfit.cli.root import app


@app.command("ui")
def ui_command(
    root: Annotated[
        Path, typer.Option("--root", help="The folder holding the runs (searched 3 levels deep).")
    ] = Path("outputs"),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind. Anything but a loopback address is reachable from other "
            "machines, over plain HTTP.",
        ),
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SKILLFIT_UI_TOKEN",
            help="The token every request needs (made up and printed if not given; at least "
            "8 characters).",
            show_envvar=True,
        ),
    ] = None,
    configs: Annotated[
        Path, typer.Option("--configs", help="Folder of YAML configs the launch form offers.")
    ] = Path("configs"),
    refresh: Annotated[
        float, typer.Option("--refresh", help="Seconds between updates of a running run's page.")
    ] = 3.0,
) -> None:
    """A web dashboard: runs, a live run's curve, skill lineage and diffs; launch, stop and
    resume runs; comparisons. Bound to 127.0.0.1 unless told otherwise."""
    try:
        import uvicorn

        from skillfit.dashboard import Access, create_app, is_loopback, new_token
    except ImportError as exc:
        typer.echo(
            f"error: the dashboard needs the `ui` extra ({exc.name} is missing): "
            "pip install 'skillfit[ui]'",
            err=True,
        )
        raise typer.Exit(2) from None
    if not 0 < port < 65536:
        typer.echo(f"error: --port must be 1-65535, not {port}", err=True)
        raise typer.Exit(2)
    if token is not None and len(token.strip()) < 8:
        typer.echo("error: --token (or SKILLFIT_UI_TOKEN) must be at least 8 characters", err=True)
        raise typer.Exit(2)
    if not is_loopback(host):
        typer.echo(
            f"Binding to {host}, which is not a loopback address: the dashboard is reachable "
            "from other machines, over plain HTTP."
        )
    access = Access(host=host, port=port, token=token or new_token())
    if not root.is_dir():
        typer.echo(f"note: {root} does not exist yet; runs launched here will be created in it")
    application = create_app(
        root,
        access=access,
        configs=configs if configs.is_dir() else None,
        refresh=max(0.2, refresh),
    )
    typer.echo(f"skillfit dashboard over {os.fspath(root)}: {access.url()}")
    typer.echo(
        "Open that address: every page needs its token (kept in a cookie after the first "
        "visit). Anyone with the token can launch and stop runs as you"
        + (
            "."
            if token
            else "; it was made up for this session (--token or SKILLFIT_UI_TOKEN choose it)."
        )
    )
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@app.command("track")
def track_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders holding runs.")],
    uri: Annotated[
        str, typer.Option("--uri", help="MLflow tracking URI (a local file store by default).")
    ] = "file:./mlruns",
    experiment: Annotated[
        str, typer.Option("--experiment", help="MLflow experiment name.")
    ] = "skillfit",
) -> None:
    """Log runs to MLflow from their run records (again: only what is new). Extra `mlflow`."""
    from skillfit.dashboard.names import list_root
    from skillfit.dashboard.tracking import TrackingError, track

    dirs: list[Path] = []
    for path in runs:
        if (path / "config.json").is_file() or (path / "runtime_state.json").is_file():
            dirs.append(path)
        else:
            dirs += list(list_root(path).runs.values())
    if not dirs:
        typer.echo("error: no run directory found in " + ", ".join(map(str, runs)), err=True)
        raise typer.Exit(2)
    for run_dir in dirs:
        try:
            run_id, added = track(run_dir, uri=uri, experiment=experiment)
        except TrackingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{run_dir} -> MLflow run {run_id} ({added} metric values added)")
