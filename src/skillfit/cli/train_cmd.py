"""`skillfit train` and `skillfit eval`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from skillfit.cli.root import app

err = Console(stderr=True)


def _user_errors() -> tuple[type[BaseException], ...]:
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


def _say(message: str) -> None:
    from skillfit.models.redact import redact

    # The message is plain text: brackets in it (`skillfit[local]`) are not markup.
    err.print(Text("error: ", style="red") + Text(redact(message)), highlight=False, soft_wrap=True)


@contextmanager
def _clear_errors() -> Iterator[None]:
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
        _say(str(exc))
        raise typer.Exit(EXIT_INFRA) from None
    except CacheBusy as exc:
        # Nothing of the unit it stopped in was recorded, like an InfraFailure.
        _say(
            f"{exc} Stopped here: run the same command again once the cache is free "
            "(a training run resumes from its last finished step)."
        )
        raise typer.Exit(EXIT_INFRA) from None
    except _user_errors() as exc:
        _say(str(exc))
        raise typer.Exit(EXIT_USER) from None
    except OSError as exc:
        _say(os_error_line(exc))
        raise typer.Exit(EXIT_USER) from None
    except sqlite3.Error as exc:
        _say(f"database error: {exc}")
        raise typer.Exit(EXIT_USER) from None


def _fmt(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


class LiveView:
    """The live display: one line per finished step above a status panel."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()
        self.status: dict[str, Any] = {"phase": "starting"}
        self.tokens = 0
        self.steps_done_here = 0
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)

    def render(self) -> Table:
        s = self.status
        elapsed = time.monotonic() - self.started
        table = Table.grid(padding=(0, 2))
        total, done = s.get("total_steps"), s.get("global_step", 0)
        eta = "–"
        if total and self.steps_done_here and done < total:
            eta = f"{elapsed / self.steps_done_here * (total - done):.0f}s"
        table.add_row(
            Text(f"epoch {s.get('epoch', 0) + 1}", style="bold"),
            f"step {done}/{total or '?'}",
            f"budget {s.get('budget', '–')}",
            f"train {_fmt(s.get('train_score'), 2)}",
            f"val {_fmt(s.get('val_current'), 2)} → {_fmt(s.get('val_candidate'), 2)}",
            f"best {_fmt(s.get('best_score'), 2)} (v{s.get('best_version', 1)})",
            f"tokens {self.tokens:,}",
            f"{elapsed:.0f}s elapsed, ETA {eta}",
        )
        table.add_row(Text(str(s.get("phase", "")), style="dim"))
        return table

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if "state" in event:
            self.status.update(event["state"])
        if "total_steps" in event:
            self.status["total_steps"] = event["total_steps"]
        if kind == "step_start":
            self.status.update(budget=event["budget"], phase=f"step {event['step']}: rollouts")
        elif kind == "rollouts":
            self.status.update(train_score=event["train_score"], phase="reflecting")
        elif kind == "gate":
            self.status.update(val_current=event["current"], val_candidate=event["candidate"])
        elif kind == "step_end":
            rec = event["record"]
            self.tokens += sum(
                int(v.get("prompt_tokens", 0)) + int(v.get("completion_tokens", 0))
                for v in rec.get("tokens", {}).values()
            )
            if rec["kind"] == "step":
                self.steps_done_here += 1
            self.console.print(_step_line(rec), highlight=False, markup=False)
            self.status["phase"] = "next step"
        elif kind == "slow_update_start":
            self.status["phase"] = f"epoch {event['epoch']}: slow update"
        elif kind == "meta_skill":
            self.status["phase"] = f"epoch {event['epoch']}: meta-skill {event['result']}"
        elif kind == "test_eval":
            self.status["phase"] = f"test evaluation: {event['arm']} skill"
        self.live.update(self.render())


def _step_line(rec: dict[str, Any]) -> str:
    label = "slow update" if rec["kind"] == "slow_update" else f"step {rec['step']:>3}"
    gate = rec.get("gate")
    verdict = rec.get("note") or "no gate"
    if gate:
        verdict = f"val {_fmt(gate['current_mean'], 2)} → {_fmt(gate['candidate_mean'], 2)} " + (
            "[adopted]" if rec["adopted"] else "[rejected]"
        )
    # Agent-CLI rollouts (train batch and gate) stopped at the wall-clock limit.
    stopped = sum(int(s.get("timed_out", 0)) for s in (rec.get("tokens") or {}).values())
    return (
        f"{label} · epoch {rec['epoch']} · budget {rec['budget']} · "
        f"train {_fmt(rec['train_score'], 2)} · edits {rec['proposed']} proposed, "
        f"{rec['guard_rejected']} guarded out, {rec['applied']} applied · {verdict} · "
        + (f"{stopped} timed out · " if stopped else "")
        + f"{rec['seconds']:.1f}s"
    )


def _jsonl(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"time": round(time.time(), 3), **event}, default=str) + "\n")
    sys.stdout.flush()


def final_table(test: dict[str, Any] | None) -> Group | Text:
    if not test:
        return Text("No test evaluation (eval.test is off).")
    table = Table(title="Test accuracy", title_justify="left")
    table.add_column("skill")
    table.add_column("accuracy", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("correct", justify="right")
    # Form apart from substance: a skill that only fixes the answer format raises the first
    # column, not the second.
    table.add_column("valid format", justify="right")
    table.add_column("accuracy among valid", justify="right")
    for arm, label in (("none", "no skill"), ("initial", "initial"), ("best", "trained")):
        r = test.get(arm) or {}
        table.add_row(
            label,
            _fmt(r.get("accuracy")),
            f"[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]",
            f"{r.get('correct', 0)}/{r.get('scored', 0)}",
            _fmt(r.get("format_rate")),
            _fmt(r.get("formatted_accuracy")),
        )
    diffs = Table(title="Paired difference (trained − other, per item)", title_justify="left")
    for col in ("vs", "mean diff", "95% interval", "p-value", "items"):
        diffs.add_column(col, justify="right" if col != "vs" else "left")
    for key, label in (("best_vs_none", "no skill"), ("best_vs_initial", "initial")):
        d = test.get(key) or {}
        diffs.add_row(
            label,
            "–" if d.get("mean_diff") is None else f"{d['mean_diff']:+.3f}",
            f"[{_fmt(d.get('ci_low'))}, {_fmt(d.get('ci_high'))}]",
            _fmt(d.get("p_value")),
            str(d.get("n", 0)),
        )
    return Group(table, diffs)


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Run config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value, e.g. --set train.epochs=2."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (default: <run.out_dir>/<run.name>)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Insist on resuming (same config resumes anyway).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start fresh even if the run directory holds a run: the old one is moved "
            "aside to <dir>.replaced-<timestamp>.",
        ),
    ] = False,
    harness: Annotated[
        str | None,
        typer.Option(
            "--harness",
            help="How the target acts: chat, agent, codex or claude-code (sets target.harness).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON event per line.")] = False,
    no_check: Annotated[
        bool,
        typer.Option(
            "--no-check",
            help="Skip the target check: before a fresh run, 16-24 target calls on 8 validation "
            "items tell whether the target reacts to its skill at all (run.target_check).",
        ),
    ] = False,
    budget_calls: Annotated[
        int | None,
        typer.Option(
            "--budget-calls",
            min=1,
            help="Model calls training may make (train.budget_calls): every role, cache hits "
            "included, the test evaluation not. The run stops at the next step boundary, tests "
            "and exports its best skill; a larger budget resumes it.",
        ),
    ] = None,
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            "--budget-tokens",
            min=1,
            help="Prompt + completion tokens training may spend (train.budget_tokens), counted "
            "as --budget-calls counts calls.",
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            help="Train once per seed (train.seed, +1, ...) into <out>/seed-<s>/ on the same "
            "splits, and report each seed, the spread and a pooled paired interval.",
        ),
    ] = None,
) -> None:
    """Train a skill document: rollout → reflect → edit → gate, epoch after epoch."""
    from skillfit.api import train

    set_ = [*(set_ or []), *([f"target.harness={harness}"] if harness else [])]
    set_ += ["run.target_check=false"] if no_check else []
    set_ += [f"train.budget_calls={budget_calls}"] if budget_calls else []
    set_ += [f"train.budget_tokens={budget_tokens}"] if budget_tokens else []
    if seeds is not None:
        if seeds < 1:
            _say(f"--seeds must be 1 or more, not {seeds}")
            raise typer.Exit(EXIT_USER)
        _train_seeds(config, set_, out, seeds, resume=resume, force=force, quiet=quiet, jsonl=jsonl)
        return
    started = time.monotonic()

    console = Console()
    progress: Callable[[dict[str, Any]], None] | None = None
    view: LiveView | None = None
    if jsonl:
        progress = _jsonl
    elif not quiet:
        view = LiveView(console)
        progress = view
    kwargs: dict[str, Any] = dict(
        overrides=set_ or [],
        out_dir=out,
        resume=resume or None,
        force=force,
        progress=progress,
        on_target_check=_on_target_check(console, view, quiet=quiet, jsonl=jsonl),
    )
    with _clear_errors():
        if view is not None:
            with view.live:
                result = train(config, **kwargs)
        else:
            result = train(config, **kwargs)
    if jsonl:
        _jsonl({"event": "summary", **result.summary, "run_dir": str(result.run_dir)})
        return
    if result.moved_aside is not None:
        console.print(f"Moved the previous run aside to {result.moved_aside}")
    s = result.summary
    console.print(
        f"Run {result.run_dir}: {s['steps']} steps, {s['adoptions']} adopted, "
        f"stopped by {s['stopped'] or '–'}; best skill v{s['best_version']} "
        f"(val {_fmt(s['best_val_score'])}) → {result.run_dir / 'best_skill.md'}; "
        f"{_minutes(time.monotonic() - started)}",
        highlight=False,
    )
    if (s.get("budget") or {}).get("message"):
        console.print(s["budget"]["message"], highlight=False, markup=False)
    if s.get("phases"):
        from skillfit.train.phases import phase_line

        console.print(f"Phases: {phase_line(s['phases'])}", highlight=False, markup=False)
    console.print(final_table(result.test))
    for line in _audit_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if hint := unreactive_hint(s):
        console.print(hint, highlight=False)
    if s.get("infra_errors"):
        err.print(
            f"[yellow]warning:[/] {s['infra_errors']} rollouts failed for infrastructure reasons "
            "and were excluded from every figure (see history.json and test_eval/)",
            highlight=False,
        )
    if hint := timeout_hint(int(s.get("timed_out") or 0), s.get("cli_timeout")):
        err.print(hint, highlight=False, markup=False, soft_wrap=True)


def _audit_lines(result: Any) -> list[str]:
    """What the run's audit (audit.json, see skillfit.app.audit) found: warnings only."""
    from skillfit.app.audit import audit_lines

    if result.audit is None:
        return [f"audit: could not run ({result.audit_error})"]
    return audit_lines(result.audit, where=str(result.run_dir / "audit.json"))


def _on_target_check(
    console: Console, view: LiveView | None, *, quiet: bool, jsonl: bool
) -> Callable[[Any], bool]:
    """How `skillfit train` answers the target check (see app.target_check.decide): on a
    terminal it asks before training a target that does not react; otherwise it warns."""
    from skillfit.app.target_check import decide

    interactive = sys.stdin.isatty() and console.is_terminal and not jsonl

    def on_check(result: Any) -> bool:
        if view is not None:
            view.live.stop()  # a question under the live display would be overdrawn
        try:
            return decide(
                result,
                interactive=interactive,
                ask=lambda question: typer.confirm(question, default=False),
                say=None
                if quiet or jsonl
                else lambda text: console.print(text, highlight=False, markup=False),
                warn=lambda text: err.print(f"warning: {text}", highlight=False, markup=False),
            )
        finally:
            if view is not None:
                view.live.start()

    return on_check


def _minutes(seconds: float) -> str:
    return f"wall time {seconds / 60:.1f} min" if seconds >= 60 else f"wall time {seconds:.0f} s"


def _train_seeds(
    config: Path,
    set_: list[str],
    out: Path | None,
    seeds: int,
    *,
    resume: bool,
    force: bool,
    quiet: bool,
    jsonl: bool,
) -> None:
    from skillfit.app.seeds import seeds_audit_lines, to_markdown, train_seeds

    console = Console()
    started = time.monotonic()

    def progress(event: dict[str, Any]) -> None:
        if jsonl:
            _jsonl(event)
        elif event["event"] == "seed_start" and not quiet:
            console.print(f"seed {event['seed']} ({event['of']} seeds in all)", highlight=False)
        elif event["event"] == "step_end" and not quiet:
            console.print("  " + _step_line(event["record"]), highlight=False, markup=False)

    with _clear_errors():
        result = train_seeds(
            config,
            seeds,
            overrides=set_,
            out_dir=out,
            progress=progress,
            resume=resume or None,
            force=force,
        )
    if jsonl:
        _jsonl({"event": "seeds_summary", **result.to_dict(), "out_dir": str(result.out_dir)})
        return
    console.print(
        f"{seeds} seeds in {result.out_dir} (seeds.json); {_minutes(time.monotonic() - started)}",
        highlight=False,
    )
    console.print(to_markdown(result), highlight=False, markup=False, soft_wrap=True)
    for line in seeds_audit_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


# Below this share of validation outcomes changed by all candidates together, no candidate
# could have been adopted on merit: the skill barely reaches the target's answers.
UNREACTIVE_SHARE = 0.1


def unreactive_hint(summary: Mapping[str, Any]) -> str | None:
    """A note for a run that adopted nothing because its candidates hardly changed the target's
    answers (see train.summary.outcomes_moved), or None."""
    moved = summary.get("val_outcomes_moved") or {}
    compared = int(moved.get("compared") or 0)
    if summary.get("adoptions") or compared < 20:
        return None
    share = int(moved.get("moved") or 0) / compared
    if share >= UNREACTIVE_SHARE:
        return None
    return (
        f"Nothing was adopted, and the candidates changed the outcome of only "
        f"{moved.get('moved', 0)} of {compared} validation items compared ({100 * share:.0f}%): "
        "this target hardly reacts to what its skill says. A larger target model gives "
        "training room; `skillfit eval --skill FILE --split val` tells whether a skill you "
        "write by hand moves it."
    )


def cost_text(result: Any) -> str:
    """`; 12,345 tokens (12,000 prompt, 345 completion), 1m 03s` for an evaluation's line.
    With rollouts whose usage is known only in part (an agent CLI stopped at its limit), the
    tokens are `at least` what was reported, or `unknown` when nothing was."""
    from skillfit.train.transfer import duration_text

    tokens, seconds = getattr(result, "tokens", None), getattr(result, "seconds", None)
    parts = []
    incomplete = int((tokens or {}).get("incomplete") or 0)
    runs = f"{incomplete} run{'s' if incomplete != 1 else ''}"
    if tokens and incomplete and not tokens["total"]:
        parts.append(f"tokens unknown ({runs} stopped at the time limit reported no usage)")
    elif tokens:
        parts.append(
            ("at least " if incomplete else "")
            + f"{tokens['total']:,} tokens ({tokens['prompt']:,} prompt, "
            f"{tokens['completion']:,} completion"
            + (
                f"; {runs} stopped at the time limit, usage known only in part)"
                if incomplete
                else ")"
            )
        )
    if seconds is not None:
        parts.append(duration_text(seconds))
    return "; " + ", ".join(parts) if parts else ""


def timeout_hint(timed_out: int, limit: float | None, of: int | None = None) -> str | None:
    """One line when rollouts hit an agent CLI's wall-clock limit, naming the setting that
    raises it, or None."""
    from skillfit.harness.cli_agent import DEFAULT_TIMEOUT

    if not timed_out:
        return None
    seconds = DEFAULT_TIMEOUT if limit is None else float(limit)
    count = f"{timed_out} of {of}" if of is not None else str(timed_out)
    return (
        f"{count} rollout{'s' if timed_out != 1 else ''} hit the agent CLI's wall-clock limit "
        f"({seconds:g} s) and scored 0: the agent had not finished, which is not a wrong "
        f"answer. If the target needs longer, raise the limit: --set "
        f"target.cli_timeout={2 * seconds:g} (target.cli_timeout in the config). Their "
        "tokens count only what the CLI had reported when it was stopped."
    )


@app.command("eval")
def eval_command(
    skill: Annotated[
        Path,
        typer.Option(
            "--skill",
            "-s",
            help="Skill: a markdown file, a skill directory (SKILL.md), a skills folder "
            "holding one, or a run directory (its best skill).",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Run config naming the task (default: the config of the run the skill lies in).",
        ),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task name (overrides the config's).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, val, train or all.")] = "test",
    target: Annotated[
        str | None, typer.Option("--target", help="Target model (default: the config's).")
    ] = None,
    harness: Annotated[
        str | None,
        typer.Option(
            "--harness",
            help="chat, agent, codex or claude-code (default: the config's target.harness).",
        ),
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Samples per item.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure a skill's accuracy (with a 95% Wilson interval) on a split of the task, for any
    target model and harness."""
    from skillfit.api import eval_config, evaluate, on_run_task
    from skillfit.train.config import MAX_SAMPLES

    if split not in ("test", "val", "train", "all"):
        err.print(f"[red]error:[/] --split must be test, val, train or all, not {split!r}")
        raise typer.Exit(2)
    if samples is not None and not 1 <= samples <= MAX_SAMPLES:
        err.print(f"[red]error:[/] --samples must be between 1 and {MAX_SAMPLES}, not {samples}")
        raise typer.Exit(2)
    with _clear_errors():
        cfg = eval_config(skill, config, set_ or [], task_name=task, harness=harness)
        result = evaluate(
            skill,
            cfg,
            run_config=config is None and on_run_task(set_ or [], task),
            split=split,  # type: ignore[arg-type]
            target=target,
            samples=samples,
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        if hint := timeout_hint(result.timed_out, cfg.target.cli_timeout, result.scored):
            err.print(hint, highlight=False, markup=False, soft_wrap=True)
    if result.scored == 0 and result.n_errors:
        _say(
            f"nothing was scored: all {result.n_errors} rollouts failed for infrastructure "
            "reasons (is the model server up, is the key right?)"
        )
        raise typer.Exit(EXIT_INFRA)
    if as_json:
        return
    Console().print(
        f"{skill} on {cfg.task.name} {split} ({result.n_items} items × {result.samples} "
        f"samples), target {target or cfg.target.model}, harness {cfg.target.harness}: "
        f"accuracy {result.line()}"
        + (f", {result.timed_out} timed out (scored 0)" if result.timed_out else "")
        + (f", {result.n_errors} infra errors excluded" if result.n_errors else "")
        + cost_text(result),
        highlight=False,
        soft_wrap=True,
    )
    if hint := timeout_hint(result.timed_out, cfg.target.cli_timeout, result.scored):
        err.print(hint, highlight=False, markup=False, soft_wrap=True)
