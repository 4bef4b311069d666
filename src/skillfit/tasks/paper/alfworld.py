"""ALFWorld (Shridhar et al. 2021) as used in the SkillOpt paper: the target plays a text
household game one action per turn (observation -> action -> environment step) until it wins,
loses or reaches the step limit. Won = hard 1.

Games are played with TextWorld (the optional extra `pip install 'skillfit[alfworld]'`, which
brings `textworld[pddl]`): ALFWorld's `game.tw-pddl` files run on TextWorld's PDDL engine, with
entity names made readable the way ALFWorld does it ("apple 1", "countertop 2"); games made by
TextWorld's own generator (`tw-make`, `.z8` + `.json`) run too, which is what the tests use.

Split directory items: `{"id", "gamefile", "task_type"?, "goal"?}`; `gamefile` is absolute, relative to
the split directory, or relative to `$ALFWORLD_DATA` (a leading `$ALFWORLD_DATA/` is expanded).
`goal` (taken from the game's `traj_data.json` by the materializer) replaces the grammar's
"UNKNOWN GOAL" placeholder in game files generated without their task text.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.models.base import Usage as ModelUsage
from skillfit.tasks.base import Item, Score, SplitName, TaskDataError, Trajectory
from skillfit.tasks.common import FixedSplitsTask, check_positive, check_seed
from skillfit.tasks.messages import system_text
from skillfit.tasks.paper.common import (
    MaterializeResult,
    load_manifest,
    load_split_dir,
    missing_raw,
    paper_splits,
    read_json,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    write_split_dir,
)
from skillfit.tasks.registry import register_task

NAME = "alfworld"
MANIFEST = "alfworld_path_split"
PUBLISHED = (
    "https://github.com/alfworld/alfworld (install it and run `alfworld-download`; the games are "
    "$ALFWORLD_DATA/json_2.1.1/<split>/<task>/<trial>/game.tw-pddl)"
)
EXTRA_HINT = "pip install 'skillfit[alfworld]'  (installs textworld[pddl])"
DATA_ENV = "ALFWORLD_DATA"
UNKNOWN_GOAL = "UNKNOWN GOAL"  # ALFWorld's grammar placeholder for the task text

INSTRUCTIONS = """You are an agent in a text-based household game. Each turn you get an \
observation and the list of actions you can take now. Reply with exactly one action, copied \
from that list, on a line of the form `Action: <action>`."""

INITIAL_SKILL = """# ALFWorld

## Acting
- Read the task in the first observation and keep it in mind; pick actions that move toward it.
- Copy actions exactly as they appear in the list of available actions.

## Searching
- To find an object, go to the places it is likely to be and open closed receptacles.
- After taking the object, go to the target place and put it there.
"""

# The game engines are C libraries loaded in-process; one lock keeps concurrent rollouts from
# stepping them at the same time (model calls still run in parallel).
_ENGINE_LOCK = threading.RLock()


class AlfworldUnavailable(ImportError):
    """TextWorld (or its PDDL engine) is not installed."""


def _textworld() -> Any:
    try:
        import textworld
    except ImportError as exc:
        raise AlfworldUnavailable(f"the alfworld task needs TextWorld: {EXTRA_HINT}") from exc
    return textworld


# ----------------------------------------------------------------------------- game sessions


@dataclass(frozen=True)
class GameStep:
    observation: str
    admissible: list[str]
    won: bool
    lost: bool
    score: float
    max_score: float


def alfred_names(entity_ids: Sequence[str]) -> dict[str, str]:
    """Readable names for ALFWorld's mangled PDDL ids, numbered the way ALFWorld numbers them:
    "Apple_bar__minus_01_dot_2..." -> "apple 2"; ids without "_bar_" keep their text."""
    ids = sorted(entity_ids)

    def base(entity_id: str) -> str | None:
        head, sep, _ = entity_id.partition("_bar_")
        if not sep:
            return None
        return head + "basin" if "basin" in entity_id else head

    counts: dict[str, int] = {}
    for entity_id in ids:
        name = base(entity_id)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    names: dict[str, str] = {}
    for entity_id in ids:
        name = base(entity_id)
        if name is None:
            text = entity_id
            for code, char in (("_minus_", "-"), ("_plus_", "+"), ("_dot_", "."), ("_comma_", ",")):
                text = text.replace(code, char)
            names[entity_id] = text
        else:
            # ALFWorld hands out numbers from the top: the first id in sorted order gets the
            # highest number of its kind.
            names[entity_id] = f"{name} {counts[name]}"
            counts[name] -= 1
    return names


_STATUS_LINE = re.compile(r"\n>[^\n]*$", re.S)


def clean_observation(text: str) -> str:
    """Drop the interpreter's prompt and status bar, and runs of blank lines."""
    text = _STATUS_LINE.sub("", text.replace("\r", ""))
    text = re.sub(r"[ \t]{3,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


class TextWorldGame:
    """One game file played with TextWorld; `reset` then `step` until done."""

    def __init__(self, gamefile: Path) -> None:
        tw = _textworld()
        infos = tw.EnvInfos(
            admissible_commands=True, won=True, lost=True, score=True, max_score=True
        )
        with _ENGINE_LOCK:
            try:
                self._env = tw.start(str(gamefile), request_infos=infos)
            except ImportError as exc:  # the PDDL engine (fast-downward) is missing
                raise AlfworldUnavailable(f"{exc}. Install it with: {EXTRA_HINT}") from exc
            inner = self._env
            while hasattr(inner, "_wrapped_env"):
                inner = inner._wrapped_env
            entity_infos = getattr(inner, "_entity_infos", None)
            if str(gamefile).endswith(".tw-pddl") and entity_infos:
                names = alfred_names(list(entity_infos))
                for entity_id, info in entity_infos.items():
                    info.name = names[entity_id]

    def _state(self, state: Any) -> GameStep:
        def get(key: str, default: Any) -> Any:
            try:
                value = state[key]
            except KeyError:
                return default
            return default if value is None else value

        return GameStep(
            observation=clean_observation(str(state.feedback or "")),
            admissible=[str(c) for c in get("admissible_commands", [])],
            won=bool(get("won", False)),
            lost=bool(get("lost", False)),
            score=float(get("score", 0) or 0),
            max_score=float(get("max_score", 0) or 0),
        )

    def reset(self) -> GameStep:
        with _ENGINE_LOCK:
            return self._state(self._env.reset())

    def step(self, command: str) -> GameStep:
        with _ENGINE_LOCK:
            state, _reward, _done = self._env.step(command)
            return self._state(state)

    def close(self) -> None:
        with _ENGINE_LOCK:
            self._env.close()


# ----------------------------------------------------------------------------- actions


_ACTION_LINE = re.compile(r"^\s*(?:action\s*:|>)\s*(.+?)\s*$", re.I | re.M)


def parse_action(reply: str, admissible: Sequence[str]) -> str:
    """The action a reply names: its last `Action: ...` (or `> ...`) line, else its first
    non-empty line; matched case- and space-insensitively to an admissible action."""
    found = _ACTION_LINE.findall(reply)
    if found:
        text = found[-1]
    else:
        lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
        text = lines[0] if lines else ""
    text = text.strip().strip("`'\"*").rstrip(".").strip()
    key = " ".join(text.lower().split())
    for command in admissible:
        if " ".join(command.lower().split()) == key:
            return command
    return text


# ----------------------------------------------------------------------------- loading


def resolve_gamefile(value: str, root: Path) -> Path:
    """An item's game path: absolute, under the split directory, or under $ALFWORLD_DATA."""
    data = os.environ.get(DATA_ENV)
    prefix = f"${DATA_ENV}/"
    if value.startswith((prefix, "${" + DATA_ENV + "}/")):
        rest = value.split("/", 1)[1]
        return Path(data).expanduser() / rest if data else root / rest
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if (root / path).is_file() or not data:
        return root / path
    return Path(data).expanduser() / path


def load_items(split_dir: str | os.PathLike[str]) -> dict[SplitName, list[Item]]:
    root = Path(split_dir).expanduser()
    rows = load_split_dir(
        root, task=NAME, required={"gamefile": str}, optional={"task_type": str, "goal": str}
    )
    out: dict[SplitName, list[Item]] = {}
    for split, split_rows in rows.items():
        items: list[Item] = []
        for row in split_rows:
            path = resolve_gamefile(row["gamefile"], root)
            if not path.is_file():
                hint = f" (set ${DATA_ENV} or materialize the split directory)"
                raise TaskDataError(
                    f"{root / split / 'items.json'} (id {row['id']!r}): game file {path} "
                    f"not found{hint}"
                )
            task_type = row.get("task_type") or ""
            items.append(
                Item(
                    id=row["id"],
                    input=f"Game: {row['gamefile']}"
                    + (f"\nTask type: {task_type}" if task_type else ""),
                    target={"gamefile": str(path)},
                    meta={"task_type": task_type, "goal": row.get("goal") or ""},
                )
            )
        out[split] = items
    return out


# ----------------------------------------------------------------------------- the task


def _admissible_text(step: GameStep) -> str:
    return "Available actions: " + ", ".join(step.admissible) if step.admissible else ""


class AlfworldTask(FixedSplitsTask):
    """Splits of game files; rollout = one episode of the target playing a game."""

    def __init__(
        self,
        splits: Mapping[SplitName, Sequence[Item]],
        *,
        options: Mapping[str, Any],
        seed: int = 0,
        max_steps: int = 50,
        history_turns: int = 20,
        max_tokens: int = 64,
        temperature: float = 0.0,
        show_admissible: bool = True,
    ) -> None:
        super().__init__(
            name=NAME, splits=splits, initial_skill=INITIAL_SKILL, options=options, seed=seed
        )
        self.max_steps = max_steps
        self.history_turns = history_turns
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.show_admissible = show_admissible

    def _system(self, skill: str) -> list[Message]:
        return [{"role": "system", "content": system_text(skill, INSTRUCTIONS)}]

    def _request(self, skill: str, turns: list[Message], current: GameStep) -> list[Message]:
        """System, the first observation (the task), the latest turns, and the current
        observation with its available actions. Old turns beyond `history_turns` are dropped
        so long episodes stay within a small model's context."""
        first, rest = turns[0], turns[1:]
        keep = 2 * self.history_turns
        shown = rest[-keep:] if len(rest) > keep else rest
        head: list[Message] = [first]
        if len(shown) < len(rest):
            dropped = (len(rest) - len(shown)) // 2
            head = [
                {
                    "role": "user",
                    "content": f"{first['content']}\n\n({dropped} earlier steps omitted)",
                }
            ]
        messages = [*self._system(skill), *head, *shown]
        if self.show_admissible and current.admissible:
            last = messages[-1]
            messages[-1] = {
                "role": "user",
                "content": f"{last['content']}\n\n{_admissible_text(current)}",
            }
        return messages

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        start = time.perf_counter()
        transcript: list[Message] = []
        tool_calls: list[dict[str, Any]] = []
        usage = ModelUsage()

        def failed(error: str) -> Trajectory:
            return Trajectory(
                item_id=item.id,
                messages=[*self._system(skill), *transcript],
                tool_calls=tool_calls,
                usage=usage,
                error=error,
                seconds=time.perf_counter() - start,
                sample=sample,
            )

        try:
            game = TextWorldGame(Path(item.target["gamefile"]))
        except AlfworldUnavailable:
            raise  # a setup problem the user must fix, not a rollout outcome
        except Exception as exc:
            return failed(f"game engine failure loading {item.target['gamefile']}: {exc!r}")
        try:
            try:
                step = game.reset()
            except Exception as exc:
                return failed(f"game engine failure on reset: {exc!r}")
            goal = str(item.meta.get("goal") or "")
            if goal and UNKNOWN_GOAL in step.observation:
                # Game files generated without their task text; fill it from traj_data.json.
                step = replace(step, observation=step.observation.replace(UNKNOWN_GOAL, goal))
            transcript.append({"role": "user", "content": step.observation})
            invalid: list[str] = []
            n_steps = 0
            while not (step.won or step.lost) and n_steps < self.max_steps:
                messages = self._request(skill, transcript, step)
                try:
                    reply = model.complete(
                        messages,
                        max_tokens=self.max_tokens,
                        temperature=self.temperature,
                        sample=sample,
                    )
                except InfraError as exc:
                    return failed(f"{type(exc).__name__}: {exc}")
                usage = usage + reply.usage
                action = parse_action(reply.text, step.admissible)
                valid = action in step.admissible if step.admissible else True
                if not valid:
                    invalid.append(action)
                try:
                    step = game.step(action)
                except Exception as exc:
                    return failed(f"game engine failure on step {n_steps + 1}: {exc!r}")
                n_steps += 1
                transcript.append({"role": "assistant", "content": reply.text})
                transcript.append({"role": "user", "content": step.observation})
                tool_calls.append(
                    {
                        "tool": "env.step",
                        "step": n_steps,
                        "action": action,
                        "admissible": valid,
                        "observation": step.observation[:500],
                        "won": step.won,
                    }
                )
        finally:
            game.close()
        score = _score(step, n_steps, self.max_steps, invalid)
        return Trajectory(
            item_id=item.id,
            messages=[*self._system(skill), *transcript],
            answer=" | ".join(c["action"] for c in tool_calls),
            score=score,
            usage=usage,
            tool_calls=tool_calls,
            seconds=time.perf_counter() - start,
            sample=sample,
        )


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _score(step: GameStep, n_steps: int, max_steps: int, invalid: Sequence[str]) -> Score:
    if step.won:
        return Score(1, 1.0, f"Won in {n_steps} steps.")
    soft = min(1.0, step.score / step.max_score) if step.max_score > 0 else 0.0
    if step.lost:
        parts = [f"Lost at step {n_steps}: {_clip(step.observation)!r}."]
    else:
        parts = [f"Not solved within the {max_steps}-step limit."]
    if soft > 0:
        parts.append(f"Progress: {soft:.0%} of the game's points.")
    if invalid:
        shown = ", ".join(repr(a) for a in list(dict.fromkeys(invalid))[:5])
        parts.append(
            f"{len(invalid)} actions were not available ({shown}); copy actions from the list."
        )
    parts.append(f"Last observation: {_clip(step.observation)!r}.")
    return Score(0, soft, " ".join(parts))


def make_task(
    *,
    split_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_steps: int = 50,
    history_turns: int = 20,
    max_tokens: int = 64,
    show_admissible: bool = True,
) -> AlfworldTask:
    """ALFWorld on the paper's splits; `n_*` keep the first n items of a split."""
    _textworld()  # fail at construction, with the install hint, when TextWorld is missing
    root = require_split_dir(NAME, split_dir)
    splits, options = paper_splits(NAME, root, load_items(root), n_train, n_val, n_test)
    return AlfworldTask(
        splits,
        options=options,
        seed=check_seed(NAME, seed),
        max_steps=check_positive(NAME, "max_steps", max_steps),
        history_turns=check_positive(NAME, "history_turns", history_turns),
        max_tokens=check_positive(NAME, "max_tokens", max_tokens),
        show_admissible=bool(show_admissible),
    )


# ----------------------------------------------------------------------------- materializer


def _goal_from_traj(path: Path) -> str | None:
    """The first human task description in an ALFWorld `traj_data.json` (None if absent)."""
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        anns = data["turk_annotations"]["anns"]
        goal = str(anns[0]["task_desc"]).strip()
    except (TaskDataError, KeyError, IndexError, TypeError):
        return None
    return goal.rstrip(".") or None


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Copy the paper's game files from an ALFWorld data folder (`$ALFWORLD_DATA`, holding
    `json_2.1.1/`) into `<out_dir>/<gamefile>` and write the split directory."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(raw_dir, NAME, "the ALFWorld data folder ($ALFWORLD_DATA)", PUBLISHED)
    sources: dict[str, Path] = {}
    missing: list[str] = []
    for rows in manifest.splits.values():
        for row in rows:
            rel = str(row.get("gamefile") or "")
            if not rel:
                raise TaskDataError(f"{manifest.path} (id {row['id']!r}): missing field 'gamefile'")
            # Accept the data folder itself or its json_2.1.1/ subfolder as --raw.
            candidates = [raw / rel, raw / rel.split("/", 1)[-1]]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                missing.append(rel)
            else:
                sources[rel] = found
    if missing:
        raise missing_raw(NAME, raw, missing, PUBLISHED)
    for rel, src in sources.items():
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    splits: dict[SplitName, list[dict[str, Any]]] = {
        s: [
            {
                "id": r["id"],
                "gamefile": r["gamefile"],
                "task_type": r.get("task_type"),
                "goal": _goal_from_traj(sources[r["gamefile"]].parent / "traj_data.json"),
            }
            for r in rows
        ]
        for s, rows in manifest.splits.items()
    }
    return write_split_dir(out_dir, splits)


register_task(
    NAME,
    make_task,
    description="ALFWorld text games (SkillOpt paper splits): act step by step; won = solved",
    n_items=191,
)
register_materializer(NAME, materialize)
