"""What an agent-CLI run leaves behind: its raw transcript (when asked for), its stdout in the
target's response cache (so a rerun replays it), and one call in the run's ledger."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillfit.harness.cli_agent import CliRun
from skillfit.models.base import ChatModel, Reply
from skillfit.skill.skilldir import SkillDir
from skillfit.tasks.base import Environment, Trajectory


def transcript_dir(given: str | os.PathLike[str] | None) -> Path | None:
    """Where raw CLI outputs are kept: `given`, else $SKILLFIT_AGENT_TRANSCRIPTS, else nowhere
    (the trajectory holds the parsed transcript either way)."""
    value = given or os.environ.get("SKILLFIT_AGENT_TRANSCRIPTS", "").strip() or None
    return Path(value) if value else None


def skill_tag(bundle: SkillDir | None) -> str:
    """`noskill`, or `skill-` and 8 hex digits of the installed skill (frontmatter, body and
    reference files): what tells two arms of one item apart."""
    if bundle is None:
        return "noskill"
    digest = hashlib.sha256(bundle.render().encode("utf-8"))
    for name, data in sorted(bundle.files.items()):
        digest.update(name.encode("utf-8") + b"\0" + bytes(data))
    return "skill-" + digest.hexdigest()[:8]


def transcript_stem(
    harness: str, target: str, bundle: SkillDir | None, item_id: str, sample: int
) -> str:
    """`<harness>-<target>-<skill tag>-<item>-s<sample>`, safe as a file name: runs of other
    targets, skills or arms never overwrite each other's transcripts."""
    from skillfit.models.redact import redact

    model = re.sub(r"[^A-Za-z0-9._-]+", "_", redact(target))[-60:].strip("_")
    raw = f"{harness}-{model}-{skill_tag(bundle)}-{item_id}-s{sample}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


def save_transcript(
    directory: Path | None,
    harness: str,
    environment: Environment,
    sample: int,
    run: CliRun,
    *,
    target: str = "",
    bundle: SkillDir | None = None,
) -> Path | None:
    """Write the CLI's raw stdout (`.jsonl`) and stderr (`.stderr`) for one item."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stem = transcript_stem(harness, target, bundle, environment.item_id, sample)
    path = directory / f"{stem}.jsonl"
    path.write_text(run.stdout, encoding="utf-8")
    (directory / f"{stem}.stderr").write_text(run.stderr, encoding="utf-8")
    return path


# --- the response cache -------------------------------------------------------------------


def _cache_of(target: ChatModel) -> Any:
    """The response cache of a target built by skillfit (the outer `CachedModel`), or None."""
    cache = getattr(target, "cache", None)
    return cache if callable(getattr(cache, "get", None)) else None


def run_key(
    harness: str,
    version: str,
    target: ChatModel,
    *,
    argv: Sequence[str],
    bundle: SkillDir | None,
    environment: Environment,
    sample: int,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one CLI run: the CLI and its version, the model, the command line
    (without the executable's path and the run's directories), the installed skill and the
    task's files (path, size and modification time)."""
    files = {}
    for rel, source in sorted(environment.files.items()):
        p = Path(source)
        paths = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        files[rel] = [
            (q.relative_to(p).as_posix() if p.is_dir() else "", q.stat().st_size, q.stat().st_mtime)
            for q in paths
            if q.exists()
        ]
    payload = {
        "harness": harness,
        "version": version,
        "model": target.name,
        "argv": list(argv)[1:],
        "skill": bundle.render() if bundle is not None else None,
        "skill_files": sorted((bundle.files if bundle is not None else {}).keys()),
        "files": files,
        "sample": sample,
        **(dict(extra) if extra else {}),
    }
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return "agent-cli:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def cached_output(target: ChatModel, key: str) -> str | None:
    """The stdout of an earlier successful run with the same key, from the target's cache."""
    cache = _cache_of(target)
    if cache is None:
        return None
    record = cache.get(key)
    text = record.get("text") if isinstance(record, dict) else None
    return text if isinstance(text, str) else None


def store_output(target: ChatModel, key: str, stdout: str, usage: Any) -> None:
    """Keep a successful run's stdout in the target's response cache (an errored run is never
    stored: it is tried again)."""
    cache = _cache_of(target)
    if cache is None or not stdout.strip():
        return
    cache.put(
        key,
        target.name,
        {
            "text": stdout,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cached_tokens": usage.cached_tokens,
                # only when written: older versions sharing the cache do not know the field
                **(
                    {"cache_write_tokens": usage.cache_write_tokens}
                    if usage.cache_write_tokens
                    else {}
                ),
            },
            "model": target.name,
            "finish_reason": "stop",
        },
    )


def account_run(target: ChatModel, key: str, traj: Trajectory, *, replayed: bool) -> None:
    """One CLI run in the run's ledger (calls.jsonl, tokens and cost per role) as one call of
    the target's role: the CLI talks to the model itself, past skillfit's accounting wrapper.
    A replay from the response cache counts as a cache hit, a failed run as an error, a run
    stopped at the wall-clock limit as a timed-out call (its usage a lower bound)."""
    ledger = getattr(target, "ledger", None)
    role = getattr(target, "role", None)
    if ledger is None or not isinstance(role, str):
        return
    if traj.error is not None:
        ledger.record_error(role, traj.seconds)
    elif replayed:
        ledger.record_hit(role, key, Reply(text=traj.answer or "", usage=traj.usage))
    else:
        reply = Reply(text=traj.answer or "", usage=traj.usage, latency=traj.seconds)
        ledger.record(role, target.name, reply, traj.seconds, key=key, timed_out=traj.timed_out)
